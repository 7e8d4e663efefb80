import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createWinrmClient, type WinrmClient } from '../../../agent/winrm/index.ts';
import { createRegistry, type CollectorRegistry } from '../../../agent/collectors/registry.ts';
import { createWindowsWmiCollector } from '../../../agent/collectors/windows-wmi.ts';
import type { CollectRequest } from '../../../agent/collectors/collector.ts';
import { ClassifiedError } from '../../../agent/failure.ts';
import type { CredentialPayload } from '../../../shared/protocol/index.ts';
import { collectOnce } from '../../../agent/collectors/collect-once.ts';
import { createRunner, type JobResult, type RunnerJob } from '../../../agent/runner/runner.ts';
import { startWinsim, type Winsim, type WinsimHost } from '../../winsim/index.ts';

// The built-in collectors against the simulator over HTTPS + Basic with a pinned certificate.
const FROZEN = Date.UTC(2026, 10, 23, 12, 0, 0);
let sim: Winsim;
let registry: CollectorRegistry;

before(async () => {
  sim = await startWinsim({ hosts: 4, portBase: 0, auth: 'basic', https: true, seed: 31, clock: () => FROZEN });
  registry = createRegistry();
});
after(async () => {
  registry.close();
  await sim.stop();
});

function credential(h: WinsimHost, password = h.password): CredentialPayload {
  return { type: 'winrm_basic', username: h.user, password, tls_verify: 'pin', tls_fingerprint: h.fingerprint! };
}

function request(h: WinsimHost, o: { password?: string; deadlineMs?: number } = {}): CollectRequest {
  return {
    job_id: 'j',
    monitor_id: 1,
    deadline: Date.now() + (o.deadlineMs ?? 10_000),
    target: { ip: h.address, port: h.port, use_ssl: true },
    credential: credential(h, o.password),
    config: {},
  };
}

const values = ({ collection_ms: _c, ...rest }: { collection_ms: number }) => rest;

test('windows-wmi returns the host’s true metrics', async () => {
  const h = sim.hosts[0]!;
  const sample = await registry.find('windows-wmi')!.collect(request(h), new AbortController().signal);
  assert.deepEqual(values(sample), h.truth().sample);
});

test('windows-powershell returns the same true metrics through a shell, and leaves no shell open', async () => {
  const h = sim.hosts[1]!;
  const sample = await registry.find('windows-powershell')!.collect(request(h), new AbortController().signal);
  assert.deepEqual(values(sample), h.truth().sample);
  assert.equal(h.sim.openShells, 0);
});

test('repeated polls of one target reuse one client and its connection', async () => {
  const created: WinrmClient[] = [];
  const wmi = createWindowsWmiCollector({
    create: (o) => (created.push(createWinrmClient(o)), created[created.length - 1]!),
  });
  try {
    const h = sim.hosts[2]!;
    await wmi.collect(request(h) as CollectRequest<never>, new AbortController().signal);
    const afterFirst = created[0]!.stats.connectionsOpened;
    assert.ok(afterFirst >= 1 && afterFirst <= created[0]!.maxConnections);
    for (let i = 0; i < 3; i++) await wmi.collect(request(h) as CollectRequest<never>, new AbortController().signal);
    assert.equal(created.length, 1);
    assert.equal(created[0]!.stats.connectionsOpened, afterFirst, 'later polls opened new connections');
    // A changed password is a different credential: a new client.
    await assert.rejects(
      wmi.collect(request(h, { password: 'Changed-1' }) as CollectRequest<never>, new AbortController().signal),
    );
    assert.equal(created.length, 2);
  } finally {
    wmi.close?.();
  }
});

test('failures come back classified: wrong password is auth, a closed port is unreachable, access denied is access_denied', async () => {
  const wmi = registry.find('windows-wmi')!;
  const h = sim.hosts[3]!;
  const classOf = async (req: CollectRequest): Promise<string> => {
    try {
      await wmi.collect(req, new AbortController().signal);
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof ClassifiedError);
      assert.ok(!err.message.includes(h.password) && !err.message.includes('Wr0ng-pw'));
      return err.failureClass;
    }
  };
  assert.equal(await classOf(request(h, { password: 'Wr0ng-pw' })), 'auth');
  await h.setFault({ accessDenied: true });
  assert.equal(await classOf(request(h)), 'access_denied');
  await h.setFault({ accessDenied: false, portClosed: true });
  assert.equal(await classOf(request(h)), 'unreachable');
  await h.setFault({ portClosed: false });
  assert.equal(await classOf(request(h)), 'ok');
});

test('a host that never answers is cut off at the job deadline as timeout', async () => {
  const h = sim.hosts[3]!;
  await h.setFault({ timeout: true });
  try {
    const t0 = Date.now();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    await assert.rejects(
      registry.find('windows-wmi')!.collect(request(h, { deadlineMs: 400 }), ac.signal),
      (e: unknown) => e instanceof ClassifiedError && e.failureClass === 'timeout',
    );
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    await h.setFault({ timeout: false });
  }
});

test('collectOnce reports success and failure as data', async () => {
  const h = sim.hosts[0]!;
  const ok = await collectOnce({
    registry,
    plugin: { type: 'windows-wmi' },
    target: { ip: h.address, port: h.port, use_ssl: true },
    credential: credential(h),
  });
  assert.ok(ok.ok && ok.metrics.process_count === h.truth().sample.process_count);
  const bad = await collectOnce({
    registry,
    plugin: { type: 'windows-wmi' },
    target: { ip: h.address, port: h.port, use_ssl: true },
    credential: credential(h, 'Nope-123'),
  });
  assert.deepEqual(bad.ok ? null : bad.failure.class, 'auth');
  const unknown = await collectOnce({
    registry,
    plugin: { type: 'snmp' },
    target: { ip: h.address, port: h.port, use_ssl: true },
    credential: null,
  });
  assert.match(unknown.ok ? '' : unknown.failure.message, /unknown plugin type 'snmp'/);
});

test('through the runner: every host polled with true values, a bad password tried once and reported as auth', async () => {
  const results: JobResult[] = [];
  const attempts: number[] = [];
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const runner = createRunner({
    registry,
    maxConcurrent: 8,
    perTargetConcurrent: 2,
    retryBackoffMs: 50,
    onResult: (r, info) => {
      results.push(r);
      attempts.push(info.attempts);
      if (results.length === 5) resolveAll();
    },
  });
  const jobs: RunnerJob[] = sim.hosts.map((h, i) => ({
    job_id: `r${i}`,
    monitor_id: i,
    deadline: Date.now() + 10_000,
    target: { ip: h.address, port: h.port, use_ssl: true },
    plugin: { type: i % 2 ? 'windows-powershell' : 'windows-wmi' },
    credential: credential(h),
  }));
  const h0 = sim.hosts[0]!;
  jobs.push({ ...jobs[0]!, job_id: 'bad', credential: credential(h0, 'Wrong-pw-1') });
  runner.submit(jobs);
  await all;
  await runner.stop();
  for (let i = 0; i < sim.hosts.length; i++) {
    const r = results.find((x) => x.job_id === `r${i}`)!;
    assert.ok('metrics' in r, `host ${i}: ${JSON.stringify(r)}`);
    assert.deepEqual(values(r.metrics), sim.hosts[i]!.truth().sample);
  }
  const bad = results.findIndex((x) => x.job_id === 'bad');
  const badResult = results[bad]!;
  assert.equal('failure' in badResult ? badResult.failure.class : 'ok', 'auth');
  assert.equal(attempts[bad], 1);
});
