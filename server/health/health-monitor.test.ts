import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEventBus } from '../events.ts';
import type { WriteOutcome } from '../metrics/poll-result.ts';
import { createHealthMonitor } from './health-monitor.ts';

const quiet = { info() {}, warn() {}, error() {}, debug() {} } as never;

function setup(threshold: number, windowMs = 600_000) {
  const updates: number[] = [];
  const devices = { markInactive: async (id: number) => (updates.push(id), true) };
  const events = createEventBus();
  return { h: createHealthMonitor({ devices, events, log: quiet, threshold, windowMs }), updates, events };
}
const fail = (device: number, monitor: number, t: number): WriteOutcome => ({
  monitor_id: monitor,
  device_id: device,
  time: new Date(t),
  ok: false,
  failure_class: 'unreachable',
  source: 'agent',
});
const tick = () => new Promise((r) => setImmediate(r));

test('health: the threshold of distinct failures marks a device inactive; a replayed failure counts once', async () => {
  const { h, updates } = setup(3);
  const now = Date.now();
  h.observe([fail(7, 1, now - 2000), fail(7, 1, now - 2000), fail(7, 1, now - 1000)]);
  await tick();
  assert.deepEqual(updates, [], 'two distinct failures are not three');
  h.observe([fail(7, 1, now)]);
  await tick();
  assert.deepEqual(updates, [7]);
});

test('health: a success resets; failures outside the window and agent-offline do not count', async () => {
  const { h, updates } = setup(2);
  const now = Date.now();
  h.observe([
    fail(8, 2, now - 2000),
    { monitor_id: 2, device_id: 8, time: new Date(now - 1000), ok: true, source: 'agent' },
    fail(8, 2, now),
  ]);
  h.observe([fail(9, 3, now - 700_000), fail(9, 3, now)]);
  h.observe([
    { ...fail(10, 4, now - 10), failure_class: 'agent_offline' },
    { ...fail(10, 4, now), failure_class: 'agent_offline' },
  ]);
  await tick();
  assert.deepEqual(updates, []);
});

test('health: failures the server made up for missing results never count, even as timeouts', async () => {
  const { h, updates } = setup(2);
  const now = Date.now();
  const server = (t: number): WriteOutcome => ({ ...fail(11, 5, t), failure_class: 'timeout', source: 'server' });
  h.observe([server(now - 3000), server(now - 2000), server(now - 1000)]);
  await tick();
  assert.deepEqual(updates, [], 'three server-made timeouts leave the device alone');
  h.observe([fail(11, 5, now - 500), server(now - 250)]);
  await tick();
  assert.deepEqual(updates, [], 'one agent failure plus a server-made one is still one');
  h.observe([{ ...fail(11, 5, now), failure_class: 'timeout' }]);
  await tick();
  assert.deepEqual(updates, [11], 'two timeouts reported by the agent reach the threshold');
});

test('health: a replayed success older than the failures after it does not reset them', async () => {
  const { h, updates } = setup(3);
  const now = Date.now();
  const ok = (t: number): WriteOutcome => ({
    monitor_id: 6,
    device_id: 12,
    time: new Date(t),
    ok: true,
    source: 'agent',
  });
  // A reconnected agent interleaves its backlog (old successes) with live results (the host is down now).
  h.observe([fail(12, 6, now - 3000)]);
  h.observe([ok(now - 300_000)]);
  h.observe([fail(12, 6, now - 2000)]);
  h.observe([ok(now - 299_000)]);
  await tick();
  assert.deepEqual(updates, []);
  h.observe([fail(12, 6, now - 1000)]);
  await tick();
  assert.deepEqual(updates, [12], 'three consecutive failures, whatever old successes arrived in between');
  h.observe(
    [fail(13, 7, now - 2000), ok(now - 1500), fail(13, 7, now - 1000), fail(13, 7, now)].map((x) => ({
      ...x,
      device_id: 13,
      monitor_id: 7,
    })),
  );
  await tick();
  assert.deepEqual(updates, [12], 'a newer success still ends the failures before it');
});

test('health: devices whose failures left the window are forgotten, so the count of devices stays bounded', async () => {
  const { h } = setup(5, 100);
  for (let d = 100; d < 200; d++) h.observe([fail(d, d, Date.now())]);
  assert.equal(h.stats().devices, 100);
  await new Promise((r) => setTimeout(r, 250));
  h.observe([fail(500, 500, Date.now())]);
  assert.equal(h.stats().devices, 1, 'only the device with a failure inside the window');
});

test('health: a device set active again starts counting from zero', async () => {
  const { h, updates, events } = setup(2);
  const now = Date.now();
  h.observe([fail(14, 8, now - 2000)]);
  events.emit('device.status_changed', { id: 14, status: 'active' });
  h.observe([fail(14, 8, now - 1000)]);
  await tick();
  assert.deepEqual(updates, [], 'the failure before the reactivation does not count');
});

test('health: settled() waits for a slow deactivation, so shutdown can end the pool after it', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const written: number[] = [];
  const devices = { markInactive: async (id: number) => (await gate, written.push(id), true) };
  const h = createHealthMonitor({ devices, events: createEventBus(), log: quiet, threshold: 1, windowMs: 600_000 });
  h.observe([fail(12, 6, Date.now())]);
  let done = false;
  const settled = h.settled().then(() => (done = true));
  await tick();
  assert.equal(done, false, 'still writing');
  release();
  await settled;
  assert.deepEqual(written, [12]);
  await h.settled();
});
