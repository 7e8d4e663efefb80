import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FailureClass } from '../../shared/failures.ts';
import type { MetricSample } from '../../shared/metrics.ts';
import type { Collector, CollectRequest } from '../collectors/collector.ts';
import { ClassifiedError } from '../failure.ts';
import { createRunner, type JobResult, type JobResultInfo, type RunnerJob, type RunnerOptions } from './runner.ts';

const SAMPLE: MetricSample = {
  cpu_percent: 5,
  memory_total: 100,
  memory_used: 50,
  disk_total: null,
  disk_used: null,
  net_sent_ps: null,
  net_recv_ps: null,
  net_utilization: null,
  packets_sent: null,
  packets_recv: null,
  net_errors: null,
  net_dropped: null,
  process_count: 10,
  collection_ms: 1,
};

type Behaviour = (req: CollectRequest, signal: AbortSignal, attempt: number) => Promise<MetricSample>;

function fakeCollector(behaviour: Behaviour): Collector & { calls: Map<string, number[]> } {
  const calls = new Map<string, number[]>();
  return {
    name: 'fake',
    calls,
    validateConfig: (c) => {
      if (c && typeof c === 'object' && 'bad' in c)
        throw new ClassifiedError('plugin_error', 'bad config', { retryable: false });
      return c;
    },
    collect(req, signal) {
      const list = calls.get(req.job_id) ?? [];
      list.push(Date.now());
      calls.set(req.job_id, list);
      return behaviour(req, signal, list.length);
    },
  };
}

function harness(collector: Collector, o: Partial<RunnerOptions> = {}) {
  const results: { result: JobResult; info: JobResultInfo; at: number }[] = [];
  let waiters: (() => void)[] = [];
  const runner = createRunner({
    registry: { find: (t) => (t === 'fake' ? collector : undefined) },
    maxConcurrent: 4,
    perTargetConcurrent: 2,
    retryBackoffMs: 30,
    onResult: (result, info) => {
      results.push({ result, info, at: Date.now() });
      for (const w of waiters) w();
      waiters = [];
    },
    ...o,
  });
  const until = async (n: number): Promise<void> => {
    while (results.length < n) await new Promise<void>((r) => waiters.push(r));
  };
  return { runner, results, until };
}

let nextId = 0;
function job(ip: string, deadlineInMs = 5000, extra: Partial<RunnerJob> = {}): RunnerJob {
  return {
    job_id: `j${++nextId}`,
    monitor_id: nextId,
    deadline: Date.now() + deadlineInMs,
    target: { ip, port: 5985, use_ssl: false },
    plugin: { type: 'fake', config: {} },
    credential: { type: 'winrm_basic', username: 'u', password: 'p' },
    ...extra,
  };
}

const failWith = (cls: FailureClass) => new ClassifiedError(cls, `failed with ${cls}`);
const classOf = (r: JobResult): string => ('failure' in r ? r.failure.class : 'ok');

test('never runs more jobs than the agent cap, nor more per target than the target cap', async () => {
  let global = 0;
  let maxGlobal = 0;
  const perTarget = new Map<string, number>();
  let maxPerTarget = 0;
  const c = fakeCollector(async (req) => {
    global++;
    maxGlobal = Math.max(maxGlobal, global);
    const n = (perTarget.get(req.target.ip) ?? 0) + 1;
    perTarget.set(req.target.ip, n);
    maxPerTarget = Math.max(maxPerTarget, n);
    await sleep(15);
    global--;
    perTarget.set(req.target.ip, n - 1);
    return SAMPLE;
  });
  const { runner, results, until } = harness(c, { maxConcurrent: 5, perTargetConcurrent: 2 });
  const jobs = Array.from({ length: 36 }, (_, i) => job(`127.0.0.${(i % 4) + 1}`));
  runner.submit(jobs);
  assert.equal(runner.health().in_flight, 5);
  await until(36);
  assert.equal(maxGlobal, 5);
  assert.equal(maxPerTarget, 2);
  assert.equal(results.filter((r) => classOf(r.result) === 'ok').length, 36);
  await sleep(5);
  const h = runner.health();
  assert.equal(h.succeeded, 36);
  assert.equal(h.in_flight, 0);
  assert.equal(h.queued, 0);
  assert.ok(h.lateness_ms.max > 0, 'queued jobs waited');
});

test('one slow target does not hold up jobs for other targets', async () => {
  const c = fakeCollector(async (req) => {
    await sleep(req.target.ip === '127.0.0.9' ? 200 : 5);
    return SAMPLE;
  });
  const { runner, results, until } = harness(c, { maxConcurrent: 3, perTargetConcurrent: 1 });
  const slow = Array.from({ length: 5 }, () => job('127.0.0.9'));
  const fast = [job('127.0.0.10'), job('127.0.0.11')];
  runner.submit([...slow, ...fast]);
  await until(2);
  assert.deepEqual(results.map((r) => r.result.job_id).sort(), fast.map((j) => j.job_id).sort());
  await runner.stop();
});

test('a failed collection is retried twice with growing backoff and succeeds on the third attempt', async () => {
  const c = fakeCollector(async (_req, _s, n) => {
    if (n < 3) throw failWith('unreachable');
    return SAMPLE;
  });
  const { runner, results, until } = harness(c, { retryBackoffMs: 40 });
  const j = job('127.0.0.1');
  runner.submit([j]);
  await until(1);
  assert.equal(classOf(results[0]!.result), 'ok');
  assert.equal(results[0]!.info.attempts, 3);
  const t = c.calls.get(j.job_id)!;
  assert.ok(t[1]! - t[0]! >= 40, `first backoff ${t[1]! - t[0]!} ms`);
  assert.ok(t[2]! - t[1]! >= 80, `second backoff ${t[2]! - t[1]!} ms`);
  assert.equal(runner.health().retries, 2);
});

test('after three failed attempts the last failure is reported with its class', async () => {
  const c = fakeCollector(async (_r, _s, n) => {
    throw n === 3 ? failWith('winrm_fault') : failWith('unreachable');
  });
  const { runner, results, until } = harness(c, { retryBackoffMs: 5 });
  runner.submit([job('127.0.0.1')]);
  await until(1);
  assert.equal(classOf(results[0]!.result), 'winrm_fault');
  assert.equal(results[0]!.info.attempts, 3);
  assert.deepEqual(runner.health().failures_by_class, { winrm_fault: 1 });
});

test('authentication and access-denied failures are not retried', async () => {
  for (const cls of ['auth', 'access_denied'] as const) {
    const c = fakeCollector(async () => {
      throw failWith(cls);
    });
    const { runner, results, until } = harness(c, { retryBackoffMs: 5 });
    const j = job('127.0.0.1');
    runner.submit([j]);
    await until(1);
    assert.equal(classOf(results[0]!.result), cls);
    assert.equal(c.calls.get(j.job_id)!.length, 1);
  }
});

test('a retry that cannot start before the deadline is skipped and the real error reported', async () => {
  const c = fakeCollector(async () => {
    throw failWith('unreachable');
  });
  const { runner, results, until } = harness(c, { retryBackoffMs: 1000 });
  const j = job('127.0.0.1', 300);
  runner.submit([j]);
  await until(1);
  assert.equal(classOf(results[0]!.result), 'unreachable');
  assert.equal(c.calls.get(j.job_id)!.length, 1);
});

test('a job still running at its deadline is aborted and reported as timeout with the last error', async () => {
  const c = fakeCollector(async (_req, signal, n) => {
    if (n === 1) throw failWith('unreachable');
    await new Promise((_, reject) =>
      signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
    );
    return SAMPLE;
  });
  const { runner, results, until } = harness(c, { retryBackoffMs: 10 });
  const t0 = Date.now();
  runner.submit([job('127.0.0.1', 250)]);
  await until(1);
  const r = results[0]!;
  assert.equal(classOf(r.result), 'timeout');
  assert.match(
    'failure' in r.result ? r.result.failure.message : '',
    /deadline passed after 2 attempts; last error \(unreachable\)/,
  );
  assert.ok(r.at - t0 >= 240 && r.at - t0 < 600, `reported after ${r.at - t0} ms`);
});

test('a collector that ignores its abort signal still yields a timeout, and its slot is freed after the grace period', async () => {
  const c = fakeCollector(() => new Promise(() => undefined));
  const { runner, results, until } = harness(c, { maxConcurrent: 1, abandonAfterMs: 100 });
  const t0 = Date.now();
  runner.submit([job('127.0.0.1', 150), job('127.0.0.2', 600)]);
  await until(1);
  assert.equal(classOf(results[0]!.result), 'timeout');
  assert.ok(results[0]!.at - t0 < 500);
  assert.equal(runner.health().in_flight, 1);
  await sleep(250);
  assert.equal(runner.health().abandoned, 1);
  assert.equal(runner.health().in_flight, 1, 'the second job took the freed slot');
  await runner.stop();
});

test('a job that arrives past its deadline is reported as timeout without running', async () => {
  const c = fakeCollector(async () => SAMPLE);
  const { runner, results, until } = harness(c);
  const j = job('127.0.0.1', -10);
  runner.submit([j]);
  await until(1);
  assert.equal(classOf(results[0]!.result), 'timeout');
  assert.equal(c.calls.has(j.job_id), false);
});

test('hosts are pinged in one batch per tick and a silent host is reported as ping without polling', async () => {
  const c = fakeCollector(async () => SAMPLE);
  const batches: string[][] = [];
  const { runner, results, until } = harness(c, {
    ping: async (ips) => {
      batches.push([...ips].sort());
      return new Set(ips.filter((ip) => ip !== '127.0.0.3'));
    },
    pingTickMs: 20,
  });
  const silent = job('127.0.0.3');
  runner.submit([job('127.0.0.1'), job('127.0.0.2'), silent]);
  runner.submit([job('127.0.0.1')]);
  await until(4);
  assert.deepEqual(batches, [['127.0.0.1', '127.0.0.2', '127.0.0.3']]);
  const silentResult = results.find((r) => r.result.job_id === silent.job_id)!.result;
  assert.equal(classOf(silentResult), 'ping');
  assert.equal(c.calls.has(silent.job_id), false);
  assert.equal(results.filter((r) => classOf(r.result) === 'ok').length, 3);
  assert.equal(runner.health().failures_by_class.ping, 1);
});

test('unknown plugin types and bad configs are plugin errors; a resent job id runs once', async () => {
  const c = fakeCollector(async () => SAMPLE);
  const { runner, results, until } = harness(c);
  const same = job('127.0.0.1');
  runner.submit([
    job('127.0.0.1', 5000, { plugin: { type: 'snmp' } }),
    job('127.0.0.1', 5000, { plugin: { type: 'fake', config: { bad: 1 } } }),
    same,
    { ...same },
  ]);
  await until(3);
  await sleep(20);
  assert.equal(results.length, 3);
  assert.match(
    'failure' in results[0]!.result ? results[0]!.result.failure.message : '',
    /no collector for plugin type 'snmp'/,
  );
  assert.equal(classOf(results[1]!.result), 'plugin_error');
  assert.equal(c.calls.get(same.job_id)!.length, 1);
});

test('stop aborts running jobs (reported as the agent stopping, not as a host timeout), drops queued ones and resolves once slots are free', async () => {
  const c = fakeCollector(
    (_req, signal) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
  );
  const { runner, results } = harness(c, { maxConcurrent: 2 });
  runner.submit([job('127.0.0.1'), job('127.0.0.2'), job('127.0.0.3'), job('127.0.0.4')]);
  const { dropped } = await runner.stop();
  assert.equal(dropped, 2);
  // Not a timeout of the host: the agent cut the polls short.
  assert.deepEqual(
    results.map((r) => classOf(r.result)),
    ['internal', 'internal'],
  );
  assert.ok(results.every((r) => 'failure' in r.result && r.result.failure.code === 'agent_stopping'));
  assert.equal(runner.health().in_flight, 0);
});

test('a scheduled poll is stamped with its slot, not its collection start, and reports its attempts', async () => {
  const c = fakeCollector(async (_r, _s, n) => {
    if (n === 1) throw failWith('unreachable');
    return SAMPLE;
  });
  const { runner, results, until } = harness(c, { retryBackoffMs: 20 });
  const slot = '2026-12-04T12:00:05.000Z';
  runner.submit([job('127.0.0.1', 5000, { time: slot }), job('127.0.0.2', -1, { time: slot })]);
  await until(2);
  const ok = results.find((r) => classOf(r.result) === 'ok')!;
  assert.equal(ok.result.time, slot);
  assert.equal(ok.result.attempts, 2);
  const late = results.find((r) => classOf(r.result) === 'timeout')!;
  assert.equal(late.result.time, slot, 'a failure carries the slot too');
  assert.equal(late.result.attempts, 0);
});

test('retries start only inside the poll deadline and the result is in by the deadline', async () => {
  const c = fakeCollector(async () => {
    await sleep(30);
    throw failWith('unreachable');
  });
  const { runner, results, until } = harness(c, { retryBackoffMs: 100 });
  const t0 = Date.now();
  const j = job('127.0.0.1', 250);
  runner.submit([j]);
  await until(1);
  const calls = c.calls.get(j.job_id)!;
  // attempt 1 at 0 (ends ~30), backoff 100-120 -> attempt 2 at ~130-150 (ends ~160-180), backoff 200-240 would end past 250: no third attempt
  assert.equal(calls.length, 2, `${calls.length} attempts`);
  for (const at of calls) assert.ok(at < (j.deadline as number), 'every attempt started before the deadline');
  assert.equal(results[0]!.result.attempts, 2);
  assert.equal(classOf(results[0]!.result), 'unreachable');
  assert.ok(results[0]!.at - t0 < 250 + 50, `reported after ${results[0]!.at - t0} ms`);

  const d = fakeCollector(async () => {
    throw failWith('unreachable');
  });
  const long = harness(d, { retryBackoffMs: 10 });
  const k = job('127.0.0.2', 5000);
  long.runner.submit([k]);
  await long.until(1);
  assert.equal(d.calls.get(k.job_id)!.length, 3, 'two retries, never more');
  assert.equal(long.results[0]!.result.attempts, 3);
});

test('lateness is measured from when a scheduled job was due', async () => {
  const c = fakeCollector(async () => SAMPLE);
  const { runner, until } = harness(c);
  runner.submit([job('127.0.0.1', 5000, { due: Date.now() - 400 })]);
  await until(1);
  assert.ok(runner.health().lateness_ms.max >= 400);
});
