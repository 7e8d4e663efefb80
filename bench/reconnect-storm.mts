/**
 * Reconnect storm: N agent connections (real links, real keys) re-establish after a server restart.
 * Reports the time until all are back, how the reconnects spread out, refusals (each carries a
 * Retry-After hint), and process CPU. Baseline: the time of the first, cold connection wave.
 *   npx tsx bench/reconnect-storm.mts [--agents 1000]
 */
import type { AgentIdentity } from '../agent/identity.ts';
import { createLink, type Link, type SpooledResult } from '../agent/link/client.ts';
import { createMemorySpool } from '../agent/spool/memory-spool.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { enrollIdentity } from '../test/helpers/agent-process.ts';
import { DIRECT } from '../agent/link/proxy.ts';

const arg = (n: string, d: number) =>
  process.argv.includes(`--${n}`) ? Number(process.argv[process.argv.indexOf(`--${n}`) + 1]) : d;
const N = arg('agents', 1000);
const s = await startTestServer({ agents: { max_connections: N + 200, heartbeat_ms: 10_000, retry_after_s: 2 } });
let refusals = 0;
const log = {
  info() {},
  warn: (o: { status?: number }) => void (o.status === 503 && refusals++),
  error() {},
  debug() {},
};

const identities: AgentIdentity[] = [];
for (let i = 0; i < N; i++) {
  identities.push(await enrollIdentity(s, `storm-${i}`));
}
const links: Link[] = identities.map((identity) => {
  const spool = createMemorySpool<SpooledResult>();
  return createLink({
    identity,
    spool,
    log,
    proxy: DIRECT,
    hostname: 'storm',
    maxInFlight: 10,
    health: () => ({ spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} }),
    backoff: { baseMs: 1000, capMs: 15_000 },
  });
});

async function allUp(label: string): Promise<{ secs: number; p50: number; p90: number }> {
  const t0 = Date.now();
  const upAt: number[] = [];
  const seen = new Set<number>();
  while (seen.size < N) {
    links.forEach((l, i) => {
      if (!seen.has(i) && l.connected()) {
        seen.add(i);
        upAt.push(Date.now() - t0);
      }
    });
    if (Date.now() - t0 > 120_000) throw new Error(`${label}: only ${seen.size}/${N} back after 120 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  upAt.sort((a, b) => a - b);
  return {
    secs: (Date.now() - t0) / 1000,
    p50: upAt[Math.floor(N / 2)]! / 1000,
    p90: upAt[Math.floor(N * 0.9)]! / 1000,
  };
}

const cpu0 = process.cpuUsage();
links.forEach((l) => l.start());
const cold = await allUp('cold start');
await s.restart(2000);
const cpu1 = process.cpuUsage();
const storm = await allUp('after restart');
const stormCpu = process.cpuUsage(cpu1);
console.log(
  JSON.stringify({
    agents: N,
    cold_start_s: cold,
    after_restart_s: storm,
    refusals_with_retry_after: refusals,
    cpu_share_during_storm_incl_agents: Number(
      ((stormCpu.user + stormCpu.system) / 1000 / (storm.secs * 1000)).toFixed(3),
    ),
    total_cpu_s: Number(((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1e6).toFixed(1)),
  }),
);
await Promise.all(links.map((l) => l.stop()));
await s.stop();
