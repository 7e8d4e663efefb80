/**
 * One agent, 10,000 hosts: a real agent process runs the schedule for N simulated Windows hosts
 * (NTLM + sealing over HTTP, one loopback address each) every 60 s. A poll's start is read on the
 * wire, by the simulator (bench/winsim-timed.mts: the first request of each burst on a host), and
 * compared with the poll's slot (shared/schedule.ts), so the agent's own accounting is not trusted.
 * Baseline in the same run, same processes: the same measurement with only --baseline-hosts of the
 * monitors enabled (a tenth of the load), before all N are enabled (server restart, full schedule).
 * Reports per phase: polls started within 1 s of their slot, start lateness quantiles, rows stored
 * vs scheduled, agent peak RSS, and CPU of each process (agent with its reaped fping children, simulator, this process = server,
 * PostgreSQL) with the simulator's own event-loop lag, to say which process is the bottleneck.
 *   npx tsx bench/agent-10k.mts [--hosts 10000] [--baseline-hosts 1000] [--seconds 180] [--warmup 75] [--hosts-per-simulator 5000]
 * Targets (issue 11): ≥ 99.9 % of polls started within 1 s of their slot; agent RSS < 300 MB.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startAgentProcess, waitFor } from '../test/helpers/agent-process.ts';
import { nextSlot } from '../shared/schedule.ts';
import { numArg, sleep, slotsIn, startFleet, storedIn } from './fleet-setup.mts';
import { postgresCpuS, procCpuS, procRssMb } from './proc-stat.mts';

const HOSTS = numArg('hosts', 10_000);
const BASELINE_HOSTS = Math.min(HOSTS, numArg('baseline-hosts', Math.max(1, Math.round(HOSTS / 10))));
const INTERVAL_S = numArg('interval', 60);
const SECONDS = numArg('seconds', 180);
const WARMUP_S = Math.max(INTERVAL_S + 5, numArg('warmup', 75));
const INTERVAL_MS = INTERVAL_S * 1000;
/** Polls whose first request comes this much before the slot are counted as that slot's (clock offset estimate). */
const EARLY_TOLERANCE_MS = 1000;

/** Hosts per simulator process: each host is a listening socket plus the agent's kept-alive connection (ulimit -n). */
const HOSTS_PER_SIM = numArg('hosts-per-simulator', 5000);
const tmp = mkdtempSync('/tmp/nmslite-bench-10k-');
const recordOf = (i: number) => join(tmp, `starts-${i}.json`);
const fleet = await startFleet({
  hosts: HOSTS,
  intervalS: INTERVAL_S,
  simScript: 'bench/winsim-timed.mts',
  simArgs: (i) => ['--record', recordOf(i)],
  simProcesses: Math.ceil(HOSTS / HOSTS_PER_SIM),
});
const { s, db } = fleet;
const hostOf = new Map<number, string>(
  (await db.query('SELECT m.id, d.ip FROM monitors m JOIN devices d ON d.id = m.device_id')).rows.map((r) => [
    Number(r.id),
    r.ip as string,
  ]),
);
const allIds = [...hostOf.keys()].sort((a, b) => a - b);

/** This process's embedded PostgreSQL: the `postgres` child of this process. */
function findPostmaster(): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === 'postgres' && ppid === process.pid) return Number(d);
    } catch {
      /* gone */
    }
  }
  return undefined;
}
const postmaster = findPostmaster();

/** Every simulator's poll starts; the event-loop lag of the worst one. */
async function dumpStarts(): Promise<{
  lag_ms: { p50: number; p99: number; max: number }[];
  starts: Record<string, number[]>;
}> {
  const out = { lag_ms: [] as { p50: number; p99: number; max: number }[], starts: {} as Record<string, number[]> };
  for (const [i, sim] of fleet.sims.entries()) {
    rmSync(recordOf(i), { force: true });
    sim.kill('SIGUSR2');
    await waitFor('simulator record', async () => existsSync(recordOf(i)), 60_000, 100);
    const r = JSON.parse(readFileSync(recordOf(i), 'utf8'));
    out.lag_ms.push(r.lag_ms);
    Object.assign(out.starts, r.starts);
  }
  return out;
}
const simCpuS = () => fleet.sims.reduce((t, c) => t + (procCpuS(c.pid!) ?? 0), 0);

const agent = startAgentProcess(fleet.home, ['--log-level', 'warn']);
const apid = agent.child.pid!;
let maxRss = 0;
const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, procRssMb(apid))), 1000);

async function phase(name: string, ids: number[]) {
  await waitFor(
    'agent online',
    async () => (await s.api('GET', `/api/v1/agents/${fleet.agentId}`)).body.online,
    120_000,
  );
  const t0 = Date.now();
  const A0 = t0 + WARMUP_S * 1000;
  await sleep(A0 - Date.now());
  maxRss = 0;
  const cpu0 = {
    agent: procCpuS(apid, true) ?? 0,
    sim: simCpuS(),
    self: process.cpuUsage(),
    pg: postmaster ? postgresCpuS(postmaster) : 0,
  };
  let healthMax = 0;
  let healthSamples = 0;
  let healthOver1s = 0;
  while (Date.now() < A0 + SECONDS * 1000) {
    await sleep(2000);
    const h = (await s.api('GET', `/api/v1/agents/${fleet.agentId}`)).body.health ?? {};
    healthSamples++;
    healthMax = Math.max(healthMax, h.job_lateness_ms ?? 0);
    if ((h.job_lateness_ms ?? 0) > 1000) healthOver1s++;
  }
  const A1 = Date.now();
  const wall = (A1 - A0) / 1000;
  const self = process.cpuUsage(cpu0.self);
  const cpu = {
    agent: Number((((procCpuS(apid, true) ?? 0) - cpu0.agent) / wall).toFixed(3)),
    simulator: Number(((simCpuS() - cpu0.sim) / wall).toFixed(3)),
    server_and_bench: Number(((self.user + self.system) / 1e6 / wall).toFixed(3)),
    postgres: postmaster ? Number(((postgresCpuS(postmaster) - cpu0.pg) / wall).toFixed(3)) : null,
  };
  const rssPeak = Math.round(maxRss);
  await sleep(35_000); // the polls of the window's last slots: started and stored
  const rec = await dumpStarts();
  const late: number[] = [];
  let notStarted = 0;
  let earliest = Infinity;
  for (const id of ids) {
    const list = rec.starts[hostOf.get(id)!] ?? [];
    let j = 0;
    for (let slot = nextSlot(id, INTERVAL_MS, A0); slot < A1; slot += INTERVAL_MS) {
      while (j < list.length && list[j]! < slot - EARLY_TOLERANCE_MS) j++;
      const st = list[j];
      if (st === undefined || st >= slot + INTERVAL_MS - EARLY_TOLERANCE_MS) {
        notStarted++;
        continue;
      }
      earliest = Math.min(earliest, st - slot);
      late.push(Math.max(0, st - slot));
      j++;
    }
  }
  late.sort((a, b) => a - b);
  const q = (p: number) => late[Math.min(late.length - 1, Math.floor(p * late.length))] ?? NaN;
  const total = late.length + notStarted;
  const scheduled = slotsIn(
    ids.map((id) => ({ id, interval_ms: INTERVAL_MS })),
    A0,
    A1,
  );
  const stored = await storedIn(db, A0, A1);
  const onTime = late.filter((l) => l <= 1000).length / Math.max(1, total);
  return {
    phase: name,
    monitors: ids.length,
    window_s: Math.round(wall),
    polls_scheduled: scheduled,
    polls_seen_on_the_wire: late.length,
    polls_not_started: notStarted,
    started_within_1s: Number(onTime.toFixed(5)),
    start_lateness_ms: {
      p50: q(0.5),
      p99: q(0.99),
      p999: q(0.999),
      max: late[late.length - 1] ?? NaN,
      earliest_vs_slot: earliest,
    },
    rows_stored_vs_scheduled: Number((stored / Math.max(1, scheduled)).toFixed(4)),
    agent_health_job_lateness_ms: { max: healthMax, samples: healthSamples, samples_over_1s: healthOver1s },
    agent_rss_peak_mb: rssPeak,
    cpu_share_of_one_core: cpu,
    simulator_processes: fleet.sims.length,
    simulator_event_loop_lag_ms: rec.lag_ms,
  };
}

try {
  const baseIds = allIds.slice(0, BASELINE_HOSTS);
  await db.query('UPDATE monitors SET enabled = (id = ANY($1::int[]))', [baseIds]);
  await s.restart();
  const base = await phase('baseline', baseIds);
  console.log(JSON.stringify(base));
  await db.query('UPDATE monitors SET enabled = true');
  await s.restart();
  const full = await phase('full', allIds);
  console.log(JSON.stringify(full));
  const busiest = Object.entries(full.cpu_share_of_one_core).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))[0]!;
  const totalCpu = Object.values(full.cpu_share_of_one_core).reduce((a: number, b) => a + (b ?? 0), 0);
  console.log(
    JSON.stringify({
      hosts: HOSTS,
      baseline_hosts: BASELINE_HOSTS,
      started_within_1s: full.started_within_1s,
      baseline_started_within_1s: base.started_within_1s,
      p99_lateness_ratio_to_baseline: Number(
        (full.start_lateness_ms.p99 / Math.max(1, base.start_lateness_ms.p99)).toFixed(2),
      ),
      agent_rss_peak_mb: full.agent_rss_peak_mb,
      target_on_time: full.started_within_1s >= 0.999 ? 'met' : 'NOT met',
      target_rss: full.agent_rss_peak_mb < 300 ? 'met' : 'NOT met',
      busiest_process: `${busiest[0]} (${busiest[1]} of one core; all processes together ${totalCpu.toFixed(2)} of the machine's 2)`,
    }),
  );
} finally {
  clearInterval(rssTimer);
  agent.child.kill('SIGTERM');
  await Promise.race([agent.exited, sleep(10_000)]);
  await fleet.stop();
  rmSync(tmp, { recursive: true, force: true });
}
