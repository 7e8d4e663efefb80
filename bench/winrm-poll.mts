/**
 * collectWindowsMetrics against 200 simulated hosts (NTLM + message encryption over HTTP, 5 ms
 * added latency per response) at concurrency 50, 200 and 1000: polls/s, HTTP round trips and bytes
 * per poll, and the poller's peak RSS — against the lower bound measured in the same run: bare
 * round trips (anonymous Identify, the smallest WS-Man exchange, on warm keep-alive connections) to
 * the same simulator at the same concurrency. The bound for polls/s is that rate divided by the
 * round trips a poll needs.
 *
 * The poller runs in its own process from an esbuild bundle of bench/winrm-poll-client.ts (as the
 * agent runs: no TypeScript loader in memory); the simulator runs in another. Both share this
 * machine's cores, so the ratio is what the client and the simulated hosts cost together.
 * Reported with it: CPU per poll and per bare round trip for both processes (the simulator's read
 * from /proc), `cpu_ratio` (what the ratio must be when both cores are saturated: CPU of the bare
 * round trips a poll needs over CPU of a poll), and `cpu_bound_ceiling`: NTLM sealing alone (RC4 +
 * HMAC-MD5 + framing, both sides) measured in this run, and the ratio a CPU-bound run could reach
 * if everything else in a poll cost no more than a bare round trip.
 * The poller applies the agent's heap settings (agent/heap-tuning.ts, as `nmslite-agent run` does);
 * `--v8-defaults` measures it with V8's defaults instead.
 *   npx tsx bench/winrm-poll.mts [--hosts 200] [--seconds 8] [--latency 5] [--concurrency 50,200,1000] [--v8-defaults]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createNtlmSession, decodeEncryptedMessage, encodeEncryptedMessage } from '../agent/winrm/ntlm/index.ts';
import { createSealingSession } from '../test/winsim/ntlm/ntlm-server.ts';
import { spawnWinsimCli } from '../test/e2e/edge-fixtures.ts';

const arg = (n: string, d: string) =>
  process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1]! : d;
const HOSTS = Number(arg('hosts', '200'));
const SECONDS = Number(arg('seconds', '8'));
const LATENCY = Number(arg('latency', '5'));
const LEVELS = arg('concurrency', '50,200,1000').split(',').map(Number);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const bundle = join(ROOT, 'dist/bench/winrm-poll-client.cjs');
mkdirSync(join(ROOT, 'dist/bench'), { recursive: true });
await build({
  entryPoints: [join(ROOT, 'bench/winrm-poll-client.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: bundle,
  logLevel: 'warning',
});

const { child: sim, hosts } = await spawnWinsimCli(
  HOSTS,
  ['--port-base', '0', '--auth', 'ntlm', '--latency-ms', String(LATENCY), '--password', 'Bench-Pass-1'],
  { stderr: 'inherit' },
);

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** CPU ms the simulator process (all its threads) has used so far, from /proc. */
function simCpuMs(): number {
  const stat = readFileSync(`/proc/${sim.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime, stime
}

/** Runs one client process; the simulator's CPU is read at the client's "window" marks. */
function runClient(mode: 'polls' | 'bare', concurrency: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, BENCH_HEAP: process.argv.includes('--v8-defaults') ? 'v8-defaults' : 'agent' };
    const child = spawn(process.execPath, [bundle, mode, String(concurrency), String(SECONDS)], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env,
    });
    const marks: number[] = [];
    let result: Record<string, number> | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'window') marks.push(simCpuMs());
      else result = JSON.parse(line);
    });
    child.on('exit', (code) => {
      if (code !== 0 || !result || marks.length !== 2) return reject(new Error(`${mode} client exited with ${code}`));
      resolve({ ...result, sim_cpu_ms: marks[1]! - marks[0]! });
    });
    child.stdin.end(JSON.stringify(hosts));
  });
}

/**
 * NTLM sealing alone, both sides of one round trip (client seals the request, host unseals it,
 * host seals the answer, client unseals it: RC4 + HMAC-MD5 + WSMV framing), with this run's message
 * sizes, on one core with nothing else running. Sizes are wire bytes minus the framing and a
 * 150-byte HTTP head (our heads are longer), so they err on the large side by a few %.
 */
function sealingMsPerRoundTrip(requestWire: number, responseWire: number): number {
  const key = Buffer.alloc(16, 7);
  const client = createNtlmSession(key, false);
  const host = createSealingSession(key, 0x20000000 | 0x00080000 | 0x20 | 0x10); // 128-bit, ESS, seal, sign
  const framing = encodeEncryptedMessage(createNtlmSession(key, false), Buffer.alloc(1000)).length - 1000;
  const plain = (wire: number) => Buffer.alloc(Math.max(1, Math.round(wire - framing - 150)), 'x');
  const req = plain(requestWire);
  const res = plain(responseWire);
  const one = () => {
    if (host.decryptRequest(encodeEncryptedMessage(client, req)).length !== req.length)
      throw new Error('sealing round trip lost bytes');
    return decodeEncryptedMessage(client, host.encryptResponse(res));
  };
  for (let i = 0; i < 2000; i++) one();
  const n = 20000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) one();
  return (performance.now() - t0) / n;
}

const r = (x: number, d = 0) => Number(x.toFixed(d));
try {
  let sealing: number | undefined;
  for (const c of LEVELS) {
    const p = await runClient('polls', c);
    const b = await runClient('bare', c);
    const rtPerPoll = p.round_trips_per_poll!;
    sealing ??= sealingMsPerRoundTrip(
      p.bytes_sent_per_poll! / rtPerPoll,
      (p.bytes_per_poll! - p.bytes_sent_per_poll!) / rtPerPoll,
    );
    const bound = b.round_trips_per_s! / rtPerPoll;
    const pollCpu = p.cpu_ms_per_poll! + p.sim_cpu_ms! / p.polls!;
    const bareCpu = b.cpu_ms_per_round_trip! + b.sim_cpu_ms! / b.round_trips!;
    console.log(
      JSON.stringify({
        concurrency: c,
        polls_per_s: r(p.polls_per_s!),
        round_trips_per_poll: r(rtPerPoll, 2),
        bytes_per_poll: r(p.bytes_per_poll!),
        handshakes_during_run: p.handshakes_during_run,
        failures: p.failures! + b.failures!,
        bare_round_trips_per_s: r(b.round_trips_per_s!),
        bound_polls_per_s: r(bound),
        ratio: r(p.polls_per_s! / bound, 3),
        agent_cpu_ms_per_poll: r(p.cpu_ms_per_poll!, 3),
        sim_cpu_ms_per_poll: r(p.sim_cpu_ms! / p.polls!, 3),
        bare_cpu_ms_per_round_trip: {
          client: r(b.cpu_ms_per_round_trip!, 4),
          sim: r(b.sim_cpu_ms! / b.round_trips!, 4),
        },
        // When both cores are saturated, polls/s over the bound is CPU per bare round trips over CPU per poll.
        cpu_ratio: r((rtPerPoll * bareCpu) / pollCpu, 3),
        // The same if everything in a poll but NTLM sealing cost nothing: a ceiling while CPU-bound.
        sealing_ms_per_round_trip: r(sealing, 4),
        cpu_bound_ceiling: r(bareCpu / (bareCpu + sealing), 3),
        agent_peak_rss_mb: r(p.peak_rss_mb!),
        agent_warmup_peak_rss_mb: r(p.warm_peak_rss_mb!),
        agent_start_rss_mb: r(p.base_rss_mb!),
        bare_client_peak_rss_mb: r(b.peak_rss_mb!),
      }),
    );
  }
} finally {
  sim.kill('SIGTERM');
}
