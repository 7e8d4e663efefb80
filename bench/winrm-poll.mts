/**
 * collectWindowsMetrics against 200 simulated hosts (NTLM + message encryption over HTTP, 5 ms
 * added latency per response) at concurrency 50, 200 and 1000: polls/s, HTTP round trips and bytes
 * per poll, agent RSS — against the lower bound measured in the same run: bare keep-alive HTTP round
 * trips to the same simulator at the same concurrency (the bound for polls/s is that rate divided by
 * the round trips a poll needs). The simulator runs in a child process.
 *   npx tsx bench/winrm-poll.mts [--hosts 200] [--seconds 8] [--latency 5]
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { collectWindowsMetrics, createWinrmClient, type WinrmClient } from '../agent/winrm/index.ts';

const arg = (n: string, d: number) => (process.argv.includes(`--${n}`) ? Number(process.argv[process.argv.indexOf(`--${n}`) + 1]) : d);
const HOSTS = arg('hosts', 200);
const SECONDS = arg('seconds', 8);
const LATENCY = arg('latency', 5);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const sim = spawn(process.execPath, ['--import', 'tsx', 'test/winsim/cli.ts', '--hosts', String(HOSTS), '--port-base', '0', '--auth', 'ntlm', '--latency-ms', String(LATENCY), '--password', 'Bench-Pass-1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
const hosts: { address: string; port: number; user: string; password: string }[] = [];
for await (const line of createInterface({ input: sim.stdout! })) {
  hosts.push(JSON.parse(line));
  if (hosts.length === HOSTS) break;
}

let peakRss = 0;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);

async function bare(concurrency: number): Promise<number> {
  const agents = hosts.map(() => new Agent({ keepAlive: true, maxSockets: Math.ceil(concurrency / HOSTS) }));
  const until = Date.now() + SECONDS * 1000;
  let n = 0;
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const h = hosts[i % HOSTS]!;
      const req = request({ host: h.address, port: h.port, path: '/wsman', method: 'POST', agent: agents[i % HOSTS], headers: { 'content-length': 0 } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = w; Date.now() < until; i += concurrency) {
      await one(i);
      n++;
    }
  }));
  agents.forEach((a) => a.destroy());
  return n / SECONDS;
}

async function polls(concurrency: number) {
  const clients: WinrmClient[] = hosts.map((h) => createWinrmClient({ host: h.address, port: h.port, auth: 'ntlm', username: h.user, password: h.password, maxConnections: Math.max(1, Math.ceil(concurrency / HOSTS)) }));
  await Promise.all(clients.map((c) => collectWindowsMetrics(c)));
  const rt0 = clients.reduce((a, c) => a + c.stats.roundTrips, 0);
  const b0 = clients.reduce((a, c) => a + c.stats.bytesSent + c.stats.bytesReceived, 0);
  const until = Date.now() + SECONDS * 1000;
  let n = 0;
  let failures = 0;
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    for (let i = w; Date.now() < until; i += concurrency) {
      try {
        await collectWindowsMetrics(clients[i % HOSTS]!);
        n++;
      } catch {
        failures++;
      }
    }
  }));
  const rt = clients.reduce((a, c) => a + c.stats.roundTrips, 0) - rt0;
  const bytes = clients.reduce((a, c) => a + c.stats.bytesSent + c.stats.bytesReceived, 0) - b0;
  clients.forEach((c) => c.close());
  return { polls_per_s: n / SECONDS, round_trips_per_poll: rt / Math.max(1, n), bytes_per_poll: Math.round(bytes / Math.max(1, n)), failures };
}

const results = [];
const LEVELS = process.argv.includes('--concurrency') ? process.argv[process.argv.indexOf('--concurrency') + 1]!.split(',').map(Number) : [50, 200, 1000];
for (const c of LEVELS) {
  peakRss = 0;
  const p = await polls(c);
  const rssPolls = peakRss;
  const rtps = await bare(c);
  const bound = rtps / p.round_trips_per_poll;
  results.push({ concurrency: c, ...p, polls_per_s: Math.round(p.polls_per_s), round_trips_per_poll: Number(p.round_trips_per_poll.toFixed(2)), bare_round_trips_per_s: Math.round(rtps), bound_polls_per_s: Math.round(bound), ratio: Number((p.polls_per_s / bound).toFixed(3)), agent_rss_mb: Math.round(rssPolls / 1048576) });
  console.log(JSON.stringify(results[results.length - 1]));
}
clearInterval(rssTimer);
sim.kill('SIGTERM');
