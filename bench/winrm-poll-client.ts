/**
 * The polling side of bench/winrm-poll.mts, run as its own process from an esbuild bundle (as the
 * agent runs: no TypeScript loader in memory), so its RSS is what an agent would use.
 *   [BENCH_HEAP=v8-defaults] node winrm-poll-client.cjs <polls|bare> <concurrency> <seconds> < hosts.json
 * Prints one JSON line.
 */
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { collectWindowsMetrics, createWinrmClient, type WinrmClient } from '../agent/winrm/index.ts';
import { buildIdentifyEnvelope } from '../agent/winrm/soap.ts';
import { boundHeapGrowth } from '../agent/heap-tuning.ts';

interface Host {
  address: string;
  port: number;
  user: string;
  password: string;
}

// The poller runs with the agent's heap settings (agent/main.ts `run`), unless asked for V8's defaults.
if (process.env.BENCH_HEAP !== 'v8-defaults') boundHeapGrowth();
const [mode, concurrencyArg, secondsArg] = process.argv.slice(2);
const CONCURRENCY = Number(concurrencyArg);
const SECONDS = Number(secondsArg);
const hosts = JSON.parse(readFileSync(0, 'utf8')) as Host[];
const baseRss = process.memoryUsage().rss;
let peakRss = 0;
let atPeak: NodeJS.MemoryUsage | undefined;
const rssTimer = setInterval(() => {
  const m = process.memoryUsage();
  if (m.rss > peakRss) {
    peakRss = m.rss;
    atPeak = m;
  }
}, 50);

/** Tells the parent (a line on stdout) that the measured window starts or ends, so it can read the simulator's CPU. */
function markWindow(): void {
  process.stdout.write('window\n');
}

/** Runs `one` from CONCURRENCY workers until the time is up; worker w uses hosts w, w+C, ... */
async function drive(one: (i: number) => Promise<void>): Promise<{ n: number; failures: number; seconds: number }> {
  const t0 = performance.now();
  const until = Date.now() + SECONDS * 1000;
  let n = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = w; Date.now() < until; i += CONCURRENCY) {
        try {
          await one(i);
          n++;
        } catch {
          failures++;
        }
      }
    }),
  );
  return { n, failures, seconds: (performance.now() - t0) / 1000 };
}

/** Bare round trips: anonymous Identify (the smallest WS-Man exchange) on warm keep-alive connections. */
async function bare(): Promise<object> {
  const perHost = Math.max(1, Math.ceil(CONCURRENCY / hosts.length));
  const agents = hosts.map(() => new Agent({ keepAlive: true, maxSockets: perHost }));
  const body = Buffer.from(buildIdentifyEnvelope(), 'utf8');
  const headers = {
    'Content-Type': 'application/soap+xml;charset=UTF-8',
    WSMANIDENTIFY: 'unauthenticated',
    'Content-Length': body.length,
  };
  let sockets = 0;
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const h = hosts[i % hosts.length]!;
      const req = request(
        { host: h.address, port: h.port, path: '/wsman', method: 'POST', agent: agents[i % hosts.length], headers },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      req.on('socket', (s) => {
        if (!(s as { counted?: boolean }).counted) {
          (s as { counted?: boolean }).counted = true;
          sockets++;
        }
      });
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(hosts.map((_, i) => one(i))); // warm: one connection per host
  const cpu0 = process.cpuUsage();
  markWindow();
  const r = await drive(one);
  markWindow();
  const cpu = process.cpuUsage(cpu0);
  agents.forEach((a) => a.destroy());
  return {
    round_trips_per_s: r.n / r.seconds,
    round_trips: r.n,
    failures: r.failures,
    connections: sockets,
    cpu_ms_per_round_trip: (cpu.user + cpu.system) / 1000 / Math.max(1, r.n),
  };
}

async function polls(): Promise<object> {
  const perHost = Math.max(1, Math.ceil(CONCURRENCY / hosts.length));
  const clients: WinrmClient[] = hosts.map((h) =>
    createWinrmClient({
      host: h.address,
      port: h.port,
      auth: 'ntlm',
      username: h.user,
      password: h.password,
      maxConnections: perHost,
    }),
  );
  // warm: every client authenticates its connections before the clock starts
  await Promise.all(Array.from({ length: perHost }, () => Promise.all(clients.map((c) => collectWindowsMetrics(c)))));
  const warmPeakRss = peakRss;
  const sum = (f: (c: WinrmClient) => number) => clients.reduce((a, c) => a + f(c), 0);
  const rt0 = sum((c) => c.stats.roundTrips);
  const b0 = sum((c) => c.stats.bytesSent + c.stats.bytesReceived);
  const hs0 = sum((c) => c.stats.handshakes);
  const sent0 = sum((c) => c.stats.bytesSent);
  const cpu0 = process.cpuUsage();
  markWindow();
  const r = await drive((i) => collectWindowsMetrics(clients[i % hosts.length]!).then(() => undefined));
  markWindow();
  const out = {
    polls_per_s: r.n / r.seconds,
    polls: r.n,
    round_trips_per_poll: (sum((c) => c.stats.roundTrips) - rt0) / Math.max(1, r.n),
    bytes_per_poll: (sum((c) => c.stats.bytesSent + c.stats.bytesReceived) - b0) / Math.max(1, r.n),
    bytes_sent_per_poll: (sum((c) => c.stats.bytesSent) - sent0) / Math.max(1, r.n),
    handshakes_during_run: sum((c) => c.stats.handshakes) - hs0,
    failures: r.failures,
    warm_peak_rss_mb: warmPeakRss / 1048576,
    cpu_ms_per_poll: ((c) => (c.user + c.system) / 1000 / Math.max(1, r.n))(process.cpuUsage(cpu0)),
  };
  clients.forEach((c) => c.close());
  return out;
}

void (mode === 'bare' ? bare() : polls()).then((result) => {
  clearInterval(rssTimer);
  process.stdout.write(
    `${JSON.stringify({ ...result, base_rss_mb: baseRss / 1048576, peak_rss_mb: peakRss / 1048576, at_peak: atPeak })}\n`,
  );
});
