/**
 * test/winsim's hosts (startWinsim, the same options as test/winsim/cli.ts) plus a clock on the
 * wire: every host records when each burst of requests begins (a request after more than
 * BURST_GAP_MS of silence on that host starts a poll), so a benchmark can tell when each poll
 * really started without asking the agent. Also measures this process's own event-loop lag, to
 * tell a late agent from a simulator that could not keep up.
 *   node --import tsx bench/winsim-timed.mts --hosts N --record FILE [--bind A] [--distinct-addresses] [--auth ntlm] [--password P]
 * Prints one JSON line per host once all listen (as the CLI does). On SIGUSR2 it writes
 * { lag_ms: {p50,p99,max}, starts: { address: [epoch ms …] } } to FILE.tmp and renames it to FILE.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startWinsim } from '../test/winsim/start-winsim.ts';

const BURST_GAP_MS = 5000;
const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10' },
    record: { type: 'string' },
    bind: { type: 'string' },
    'distinct-addresses': { type: 'boolean', default: false },
    auth: { type: 'string' },
    password: { type: 'string' },
  },
  strict: true,
});
if (!values.record) {
  process.stderr.write('winsim-timed: --record FILE is required\n');
  process.exit(2);
}
const auth = values.auth;
if (auth !== undefined && auth !== 'ntlm' && auth !== 'basic' && auth !== 'both') {
  process.stderr.write('winsim-timed: --auth must be ntlm, basic or both\n');
  process.exit(2);
}
const sim = await startWinsim({
  hosts: Number(values.hosts),
  ...(values.bind ? { bind: values.bind } : {}),
  distinctAddresses: values['distinct-addresses'],
  ...(auth ? { auth } : {}),
  ...(values.password ? { password: values.password } : {}),
});

const starts = new Map<string, number[]>();
const lastSeen = new Map<string, number>();
for (const h of sim.hosts) {
  const list: number[] = [];
  starts.set(h.address, list);
  // SimHost keeps its http.Server private; a second 'request' listener only watches the clock.
  const server = (h.sim as unknown as { server: import('node:http').Server }).server;
  server.on('request', () => {
    const now = Date.now();
    const prev = lastSeen.get(h.address);
    if (prev === undefined || now - prev > BURST_GAP_MS) list.push(now);
    lastSeen.set(h.address, now);
  });
}

const lag: number[] = [];
let expected = Date.now() + 50;
setInterval(() => {
  const now = Date.now();
  lag.push(Math.max(0, now - expected));
  if (lag.length > 200_000) lag.splice(0, 100_000);
  expected = now + 50;
}, 50);

let out = '';
for (const h of sim.hosts)
  out += `${JSON.stringify({ hostname: h.hostname, address: h.address, port: h.port, user: h.user, password: h.password, auth: h.auth, tls: h.tls })}\n`;
process.stdout.write(out);

process.on('SIGUSR2', () => {
  const sorted = lag.slice().sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  writeFileSync(
    `${values.record}.tmp`,
    JSON.stringify({
      lag_ms: { p50: q(0.5), p99: q(0.99), max: sorted[sorted.length - 1] ?? 0 },
      starts: Object.fromEntries(starts),
    }),
  );
  renameSync(`${values.record}.tmp`, values.record!);
  lag.length = 0;
});
const stop = (): void => void sim.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
