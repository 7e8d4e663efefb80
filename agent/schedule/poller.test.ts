import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Assignment } from '../../shared/protocol/index.ts';
import type { PollResult, SpooledResult } from '../link/client.ts';
import type { JobResult, RunnerJob } from '../runner/runner.ts';
import { createPoller, type PollerOptions } from './poller.ts';

const SLOT = Date.UTC(2026, 11, 4, 12, 0, 7);
const a = (id: number, extra: Partial<Assignment> = {}): Assignment => ({
  monitor_id: id,
  target: { ip: '10.0.0.1', port: 5985, use_ssl: false },
  plugin: { type: 'windows-wmi' },
  interval_s: 60,
  timeout_ms: 8000,
  credential: { profile_id: 3, version: 1 },
  ...extra,
});
const cred = { type: 'winrm_ntlm' as const, username: 'u', password: 'p' };

function harness(extra: Partial<PollerOptions> = {}) {
  const jobs: RunnerJob[] = [];
  const spooled: SpooledResult[] = [];
  const replies: PollResult[] = [];
  let admit = true;
  const poller = createPoller({
    runner: { submit: (js) => void jobs.push(...js) },
    findCredential: (x) => (x.credential?.profile_id === 3 ? { profile_id: 3, version: 1, sealed: 'jwe' } : undefined),
    openCredential: async () => cred,
    ready: async () => undefined,
    offsetMs: () => 250,
    admitPoll: () => admit,
    spool: (r) => void spooled.push(r),
    reply: (m) => void replies.push(m),
    log: { warn() {}, error() {} },
    ...extra,
  });
  const settle = () => new Promise((r) => setTimeout(r, 5));
  return { poller, jobs, spooled, replies, settle, setAdmit: (v: boolean) => (admit = v) };
}

test('a due slot becomes a runner job named and stamped by its slot, with its deadline on the agent clock', async () => {
  const h = harness();
  h.poller.onDue({ assignment: a(7), slot: SLOT });
  await h.settle();
  assert.equal(h.jobs.length, 1);
  const j = h.jobs[0]!;
  assert.equal(j.job_id, `7-${SLOT}`);
  assert.equal(j.time, new Date(SLOT).toISOString());
  assert.equal(j.deadline, SLOT + 8000 - 250);
  assert.equal(j.due, SLOT - 250);
  assert.deepEqual(j.credential, cred);
  const r: JobResult = {
    job_id: j.job_id,
    monitor_id: 7,
    time: j.time!,
    attempts: 2,
    failure: { class: 'unreachable', message: 'x' },
  };
  h.poller.onResult(r);
  assert.deepEqual(h.spooled, [
    { job_id: j.job_id, monitor_id: 7, time: j.time, attempts: 2, failure: { class: 'unreachable', message: 'x' } },
  ]);
});

test('a slot that comes while the previous poll of the monitor is still out is skipped and recorded, not queued', async () => {
  const h = harness();
  h.poller.onDue({ assignment: a(7), slot: SLOT });
  await h.settle();
  for (let k = 1; k <= 5; k++) h.poller.onDue({ assignment: a(7), slot: SLOT + k * 60_000 });
  await h.settle();
  assert.equal(h.jobs.length, 1, 'one job at a time per monitor');
  assert.equal(h.poller.stats().skipped_busy, 5);
  assert.equal(h.spooled.length, 5);
  assert.ok(h.spooled.every((s) => 'failure' in s && s.failure.code === 'previous_poll_running' && s.attempts === 0));
  h.poller.onResult({
    job_id: h.jobs[0]!.job_id,
    monitor_id: 7,
    time: h.jobs[0]!.time!,
    attempts: 1,
    failure: { class: 'timeout', message: 'slow' },
  });
  h.poller.onDue({ assignment: a(7), slot: SLOT + 6 * 60_000 });
  await h.settle();
  assert.equal(h.jobs.length, 2, 'the next slot after the result runs');
});

test('paused polling runs nothing; a credential the server did not send is a classified failure for that slot', async () => {
  const h = harness();
  h.setAdmit(false);
  h.poller.onDue({ assignment: a(7), slot: SLOT });
  await h.settle();
  assert.equal(h.jobs.length + h.spooled.length, 0);
  assert.equal(h.poller.stats().skipped_paused, 1);
  h.setAdmit(true);
  h.poller.onDue({ assignment: a(8, { credential: { profile_id: 9, version: 0 } }), slot: SLOT });
  await h.settle();
  assert.equal(h.jobs.length, 0);
  assert.equal(h.spooled[0] && 'failure' in h.spooled[0] ? h.spooled[0].failure.code : '', 'credential_missing');
  assert.equal(h.spooled[0]!.time, new Date(SLOT).toISOString());
  assert.equal(h.poller.stats().outstanding, 0);
});

test('poll.now runs at once under its own job id and is answered, never spooled', async () => {
  const h = harness();
  h.poller.pollNow({
    type: 'poll.now',
    request_id: 'r-1',
    assignment: a(7),
    credential: { profile_id: 3, version: 1, sealed: 'jwe' },
  });
  await h.settle();
  assert.equal(h.jobs[0]!.job_id, 'now-r-1');
  assert.ok(Math.abs((h.jobs[0]!.deadline as number) - (Date.now() + 8000)) < 100);
  h.poller.onResult({
    job_id: 'now-r-1',
    monitor_id: 7,
    time: h.jobs[0]!.time!,
    attempts: 1,
    failure: { class: 'auth', message: 'no' },
  });
  assert.equal(h.spooled.length, 0);
  assert.deepEqual(h.replies, [
    {
      type: 'poll.result',
      request_id: 'r-1',
      time: h.jobs[0]!.time,
      attempts: 1,
      failure: { class: 'auth', message: 'no' },
    },
  ]);
});
