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
 * The poller applies the agent's heap settings (agent/heap-tuning.ts, as `nmslite-agent run` does);
 * `--v8-defaults` measures it with V8's defaults instead.
 *   npx tsx bench/winrm-poll.mts [--hosts 200] [--seconds 8] [--latency 5] [--concurrency 50,200,1000] [--v8-defaults]
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const arg = (n: string, d: string) => (process.argv.includes(`--${n}`) ? process.argv[process.argv.indexOf(`--${n}`) + 1]! : d);
const HOSTS = Number(arg('hosts', '200'));
const SECONDS = Number(arg('seconds', '8'));
const LATENCY = Number(arg('latency', '5'));
const LEVELS = arg('concurrency', '50,200,1000').split(',').map(Number);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const bundle = join(ROOT, 'dist/bench/winrm-poll-client.cjs');
mkdirSync(join(ROOT, 'dist/bench'), { recursive: true });
await build({ entryPoints: [join(ROOT, 'bench/winrm-poll-client.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: bundle, logLevel: 'warning' });

const sim = spawn(process.execPath, ['--import', 'tsx', 'test/winsim/cli.ts', '--hosts', String(HOSTS), '--port-base', '0', '--auth', 'ntlm', '--latency-ms', String(LATENCY), '--password', 'Bench-Pass-1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
const hosts: unknown[] = [];
for await (const line of createInterface({ input: sim.stdout! })) {
  hosts.push(JSON.parse(line));
  if (hosts.length === HOSTS) break;
}

function runClient(mode: 'polls' | 'bare', concurrency: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, BENCH_HEAP: process.argv.includes('--v8-defaults') ? 'v8-defaults' : 'agent' };
    const child = spawn(process.execPath, [bundle, mode, String(concurrency), String(SECONDS)], { stdio: ['pipe', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${mode} client exited with ${code}`))));
    child.stdin.end(JSON.stringify(hosts));
  });
}

const r = (x: number, d = 0) => Number(x.toFixed(d));
try {
  for (const c of LEVELS) {
    const p = await runClient('polls', c);
    const b = await runClient('bare', c);
    const bound = b.round_trips_per_s! / p.round_trips_per_poll!;
    console.log(
      JSON.stringify({
        concurrency: c,
        polls_per_s: r(p.polls_per_s!),
        round_trips_per_poll: r(p.round_trips_per_poll!, 2),
        bytes_per_poll: r(p.bytes_per_poll!),
        handshakes_during_run: p.handshakes_during_run,
        failures: p.failures! + b.failures!,
        bare_round_trips_per_s: r(b.round_trips_per_s!),
        bound_polls_per_s: r(bound),
        ratio: r(p.polls_per_s! / bound, 3),
        agent_cpu_ms_per_poll: r(p.cpu_ms_per_poll!, 3),
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
