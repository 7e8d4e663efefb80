/**
 * Scheduler: 100,000 monitors at 60 s intervals dispatched into a counting sink (real clock).
 *   npx tsx bench/scheduler.ts [--seconds 180] [--monitors 100000]
 * Reports dispatch lateness p50/p99 (dispatch time − due time) and process CPU per 1,000 dispatches,
 * against a same-run baseline: a 50 ms interval timer's own lateness in the same process.
 * Targets: p99 < 100 ms, < 5 % of one core.
 *
 * Measured 2026-11-24 (`--seconds 75`, 2 cores shared with other jobs): 124,991 dispatches,
 *   lateness p50 10 ms, p99 20 ms, max 69 ms (idle 50 ms timer baseline: p50 0, p99 1, max 22 ms);
 *   CPU 3.07 % of one core = 18.4 ms per 1,000 dispatches (includes the sink and the baseline timer).
 */
import { createScheduler, type PollJob } from '../server/scheduler/scheduler.ts';
import type { ScheduledMonitor, SchedulerStore } from '../server/scheduler/scheduler-store.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 180);
const MONITORS = arg('monitors', 100_000);
const AGENTS = 20;

const monitors: ScheduledMonitor[] = Array.from({ length: MONITORS }, (_, i) => ({
  monitor_id: i + 1,
  device_id: i + 1,
  agent_id: (i % AGENTS) + 1,
  ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  port: 5985,
  use_ssl: false,
  credential_profile_id: 1,
  plugin_id: 1,
  interval_ms: 60_000,
}));
let stateWrites = 0;
const store: SchedulerStore = {
  loadAll: async () => monitors,
  loadMonitor: async () => undefined,
  loadDevice: async () => [],
  markAttempted: async () => void stateWrites++,
  markAgentOffline: async () => void stateWrites++,
};

const lateness: number[] = [];
let dispatched = 0;
const silent = { info() {}, warn() {}, error() {}, debug() {} };
let sched: ReturnType<typeof createScheduler>;
const sink = (_agent: number, jobs: PollJob[]): number => {
  const now = Date.now();
  for (const j of jobs) lateness.push(now - j.due);
  dispatched += jobs.length;
  const ids = jobs.map((j) => j.job_id);
  // Results come back later, as they would from an agent.
  setTimeout(() => sched.complete(ids), 50);
  return jobs.length;
};
sched = createScheduler({ store, log: silent, dispatch: sink, isAgentOnline: () => true });

const baseline: number[] = [];
let expected = Date.now() + 50;
const idle = setInterval(() => {
  const now = Date.now();
  baseline.push(now - expected);
  expected = now + 50;
}, 50);

const pct = (a: number[], p: number): number => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

await sched.start();
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, SECONDS * 1000));
const cpu = process.cpuUsage(cpu0);
const wall = Number(process.hrtime.bigint() - t0) / 1e6;
clearInterval(idle);
await sched.stop();

const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(`${MONITORS.toLocaleString('en')} monitors at 60 s, ${SECONDS} s run, ${dispatched.toLocaleString('en')} dispatches, ${stateWrites} batched state writes`);
console.log(`dispatch lateness  p50 ${pct(lateness, 50)} ms  p99 ${pct(lateness, 99)} ms  max ${Math.max(...lateness)} ms`);
console.log(`baseline: idle 50 ms timer lateness  p50 ${pct(baseline, 50)} ms  p99 ${pct(baseline, 99)} ms  max ${Math.max(...baseline)} ms`);
console.log(`CPU ${cpuMs.toFixed(0)} ms over ${(wall / 1000).toFixed(1)} s = ${((100 * cpuMs) / wall).toFixed(2)} % of one core; ${((1000 * cpuMs) / Math.max(1, dispatched)).toFixed(2)} ms CPU per 1,000 dispatches`);
