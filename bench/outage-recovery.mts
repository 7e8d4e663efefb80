/**
 * Outage recovery: one real agent process polls N simulated hosts (NTLM + sealing) every 60 s from
 * its own schedule; the server is stopped for the outage (the link is down, the agent keeps polling
 * into its disk spool) and started again. Reports polls stored / polls scheduled for the window
 * around the outage (every monitor's slots, shared/schedule.ts), rows off their slot, and the time
 * from the server's return to a store holding every poll scheduled before it (caught up).
 * Baseline in the same run: the same ratio for the minutes before the outage, link up.
 *   npx tsx bench/outage-recovery.mts [--hosts 2000] [--outage-minutes 10] [--baseline-minutes 3] [--after-minutes 2]
 * Target (issue 11): ≥ 99.9 % of the polls scheduled in the window stored.
 */
import { isSlot } from '../shared/schedule.ts';
import { runAgentCommand, startAgentProcess, waitFor } from '../test/helpers/agent-process.ts';
import { numArg, sleep, slotsIn, startFleet, storedIn } from './fleet-setup.mts';
import { procCpuS, procRssMb } from './proc-stat.mts';

const HOSTS = numArg('hosts', 2000);
const INTERVAL_S = numArg('interval', 60);
const OUTAGE_MS = numArg('outage-minutes', 10) * 60_000;
const BASELINE_MS = numArg('baseline-minutes', 3) * 60_000;
const AFTER_MS = numArg('after-minutes', 2) * 60_000;
const CATCH_UP_LIMIT_MS = 15 * 60_000;
const INTERVAL_MS = INTERVAL_S * 1000;

const fleet = await startFleet({ hosts: HOSTS, intervalS: INTERVAL_S });
const { s, db, monitors } = fleet;
const agent = startAgentProcess(fleet.home, ['--log-level', 'warn', '--max-concurrent', '1000']);
const pid = agent.child.pid!;
let maxRss = 0;
const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, procRssMb(pid))), 1000);
try {
  await waitFor(
    'agent online',
    async () => (await s.api('GET', `/api/v1/agents/${fleet.agentId}`)).body.online,
    60_000,
  );
  // Every monitor starts at its next slot after the schedule arrives: the window opens one interval later.
  const B0 = Date.now() + INTERVAL_MS + 5000;
  await sleep(B0 + BASELINE_MS - Date.now());
  const cpu0 = procCpuS(pid) ?? 0;

  const O0 = Date.now();
  let statusDuringOutage: Record<string, unknown> | string = '';
  const statusTimer = setTimeout(
    async () => {
      const r = await runAgentCommand(['status', '--json', '--home', fleet.home]);
      try {
        const st = JSON.parse(r.stdout) as Record<string, unknown>;
        const keep = [
          'schedule_revision',
          'monitors_assigned',
          'offline_since',
          'polls_offline',
          'polling_paused',
          'spool_backlog',
          'spool_oldest_age_ms',
          'spool_evicted',
        ];
        statusDuringOutage = Object.fromEntries(keep.filter((k) => k in st).map((k) => [k, st[k]]));
      } catch {
        statusDuringOutage = (r.stdout || r.stderr).trim().slice(0, 500);
      }
    },
    Math.max(1000, OUTAGE_MS - 20_000),
  );
  await s.restart(OUTAGE_MS);
  clearTimeout(statusTimer);
  const O1 = Date.now();
  const cpuOutage = (procCpuS(pid) ?? 0) - cpu0;

  // Caught up: every poll scheduled before the server returned is in the store.
  const due = slotsIn(monitors, B0, O1);
  let caughtUpMs: number | null = null;
  let linkUpMs: number | null = null;
  let storedAtReconnect = -1;
  while (Date.now() - O1 < CATCH_UP_LIMIT_MS) {
    if (linkUpMs === null && (await s.api('GET', `/api/v1/agents/${fleet.agentId}`)).body.online)
      linkUpMs = Date.now() - O1;
    const n = await storedIn(db, B0, O1);
    if (linkUpMs !== null && storedAtReconnect < 0) storedAtReconnect = n;
    if (n >= due) {
      caughtUpMs = Date.now() - O1;
      break;
    }
    await sleep(250);
  }
  const E = O1 + AFTER_MS;
  await sleep(Math.max(0, E - Date.now()) + 45_000); // polls near E: collected and stored
  const health = (await s.api('GET', `/api/v1/agents/${fleet.agentId}`)).body.health ?? {};

  const ratio = async (from: number, to: number) => {
    const scheduled = slotsIn(monitors, from, to);
    const stored = await storedIn(db, from, to);
    return { scheduled, stored, ratio: Number((stored / Math.max(1, scheduled)).toFixed(5)) };
  };
  const rows = (
    await db.query('SELECT monitor_id, time FROM metrics WHERE time >= $1 AND time < $2', [new Date(B0), new Date(E)])
  ).rows;
  const byId = new Map(monitors.map((m) => [m.id, m.interval_ms]));
  const offSlot = rows.filter(
    (r) => !isSlot(Number(r.monitor_id), byId.get(Number(r.monitor_id)) ?? INTERVAL_MS, new Date(r.time).getTime()),
  ).length;
  const failures = (await db.query('SELECT count(*)::int AS n FROM monitors WHERE last_error_at >= $1', [new Date(B0)]))
    .rows[0].n;
  const window = await ratio(B0, E);
  const baseline = await ratio(B0, O0);
  console.log(
    JSON.stringify(
      {
        hosts: HOSTS,
        interval_s: INTERVAL_S,
        outage_s: Math.round((O1 - O0) / 1000),
        baseline_link_up: baseline,
        during_outage: await ratio(O0, O1),
        after_reconnect: await ratio(O1, E),
        whole_window: window,
        ratio_window_to_baseline: Number((window.ratio / Math.max(1e-9, baseline.ratio)).toFixed(5)),
        target_999_permille: window.ratio >= 0.999 ? 'met' : 'NOT met',
        stored_of_due_when_link_up: `${storedAtReconnect}/${due}`,
        server_up_to_link_up_s: linkUpMs === null ? null : Number((linkUpMs / 1000).toFixed(1)),
        server_up_to_caught_up_s:
          caughtUpMs === null
            ? `not caught up after ${CATCH_UP_LIMIT_MS / 1000} s`
            : Number((caughtUpMs / 1000).toFixed(1)),
        link_up_to_caught_up_s:
          caughtUpMs === null || linkUpMs === null ? null : Number(((caughtUpMs - linkUpMs) / 1000).toFixed(1)),
        rows_off_their_slot: offSlot,
        monitors_with_errors_in_window: failures,
        agent_cpu_share_during_outage: Number((cpuOutage / ((O1 - O0) / 1000)).toFixed(3)),
        agent_rss_max_mb: Math.round(maxRss),
        agent_status_20s_before_reconnect: statusDuringOutage,
        agent_health_at_end: health,
      },
      null,
      1,
    ),
  );
} finally {
  clearInterval(rssTimer);
  agent.child.kill('SIGTERM');
  await Promise.race([agent.exited, sleep(10_000)]);
  await fleet.stop();
}
