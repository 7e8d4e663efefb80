/**
 * Scheduler: 100,000 monitors at a 60 s interval for 3 minutes (use --seconds for less).
 * Dispatch lateness p50/p99 and scheduler CPU per 1,000 dispatches, against the lateness of an idle
 * 20 ms interval timer measured in the same run (the event loop's own floor).
 *   npx tsx bench/scheduler.ts [--monitors 100000] [--seconds 180]
 */
import { createScheduler, type PollJob } from '../server/scheduler/scheduler.ts';
import type { ScheduledMonitor, SchedulerStore } from '../server/scheduler/scheduler-store.ts';

const arg = (n: string, d: number) => (process.argv.includes(`--${n}`) ? Number(process.argv[process.argv.indexOf(`--${n}`) + 1]) : d);
const MONITORS = arg('monitors', 100_000);
const SECONDS = arg('seconds', 180);
const AGENTS = 50;

const monitors: ScheduledMonitor[] = Array.from({ length: MONITORS }, (_, i) => ({
  monitor_id: i + 1, device_id: i + 1, agent_id: (i % AGENTS) + 1, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 5985, use_ssl: false,
  credential_profile_id: 1, plugin_id: 1, interval_ms: 60_000,
}));
const store: SchedulerStore = {
  loadAll: async () => monitors,
  loadMonitor: async (id) => monitors[id - 1],
  loadDevice: async (id) => monitors.filter((m) => m.device_id === id),
  markAttempted: async () => {},
  markAgentOffline: async () => {},
};

const lateness: number[] = [];
const pending = new Set<string>();
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const scheduler = createScheduler({
  store,
  log: quiet,
  isAgentOnline: () => true,
  dispatch: (_agent, jobs: PollJob[]) => {
    const now = Date.now();
    for (const j of jobs) {
      lateness.push(now - j.due);
      pending.add(j.job_id);
    }
    return jobs.length;
  },
  config: { jobTimeoutMs: 30_000, graceMs: 15_000 },
});

// Results come back 200 ms later, as from a fast fleet, so nothing times out.
const completer = setInterval(() => {
  scheduler.complete([...pending]);
  pending.clear();
}, 200);

const timerLate: number[] = [];
let expect = Date.now() + 20;
const floor = setInterval(() => {
  timerLate.push(Date.now() - expect);
  expect = Date.now() + 20;
}, 20);

await scheduler.start();
const cpu0 = process.cpuUsage();
const t0 = Date.now();
await new Promise((r) => setTimeout(r, SECONDS * 1000));
const cpu = process.cpuUsage(cpu0);
const wall = Date.now() - t0;
clearInterval(completer);
clearInterval(floor);
await scheduler.stop();

const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(
  JSON.stringify({
    monitors: MONITORS,
    seconds: SECONDS,
    dispatches: lateness.length,
    expected_dispatches: Math.round((MONITORS * wall) / 60_000),
    lateness_ms: { p50: pct(lateness, 50), p99: pct(lateness, 99), max: Math.max(...lateness) },
    idle_timer_lateness_ms: { p50: pct(timerLate, 50), p99: pct(timerLate, 99) },
    cpu_ms_per_1000_dispatches: Number(((cpuMs / Math.max(1, lateness.length)) * 1000).toFixed(2)),
    cpu_share_of_one_core: Number((cpuMs / wall).toFixed(4)),
  }),
);
