import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOfflineState, readAgentState } from './offline-state.ts';

const HOUR = 3_600_000;

function harness(dir = mkdtempSync(join(tmpdir(), 'nmslite-state-')), clock = { now: Date.UTC(2026, 11, 4) }) {
  const logs: { level: string; msg: string }[] = [];
  const rec = (level: string) => (_o: object, msg: string) => void logs.push({ level, msg });
  const file = join(dir, 'state.json');
  const state = createOfflineState({
    file,
    maxOfflineMs: 2 * HOUR,
    log: { info: rec('info'), warn: rec('warn'), error: rec('error') },
    localNow: () => clock.now,
  });
  return { state, logs, file, dir, clock };
}

test('past max_offline_hours polling pauses with one warning, and resumes when the link is back', async () => {
  const h = harness();
  h.state.load();
  h.state.linkUp();
  h.state.linkDown();
  const since = h.state.snapshot().offline_since;
  assert.equal(since, h.clock.now);
  assert.equal(h.state.admitPoll(), true);
  h.clock.now += HOUR;
  assert.equal(h.state.admitPoll(), true);
  assert.equal(h.state.snapshot().polls_offline, 2);
  h.clock.now += HOUR + 1;
  assert.equal(h.state.admitPoll(), false);
  assert.equal(h.state.admitPoll(), false);
  assert.equal(h.state.snapshot().polling_paused, true);
  assert.equal(h.state.snapshot().polls_offline, 2, 'paused polls are not counted');
  assert.equal(h.logs.filter((l) => l.level === 'warn' && /polling is paused/.test(l.msg)).length, 1, 'warned once');
  h.state.linkUp();
  assert.equal(h.state.admitPoll(), true);
  assert.deepEqual(
    { ...h.state.snapshot(), clock_offset_ms: 0 },
    { clock_offset_ms: 0, offline_since: null, polls_offline: 2, polling_paused: false },
  );
  assert.ok(h.logs.some((l) => /polling resumes/.test(l.msg)));
  await h.state.close();
});

test('offset, outage start and counters survive a restart while offline, so the pause still comes on time', async () => {
  const h = harness();
  h.state.load();
  h.state.setOffset(-1500);
  h.state.linkUp();
  h.state.linkDown();
  const since = h.state.snapshot().offline_since!;
  h.state.admitPoll();
  h.state.admitPoll();
  await h.state.close();
  const saved = readAgentState(h.file)!;
  assert.equal(saved.clock_offset_ms, -1500);
  assert.equal(saved.offline_since, since);
  assert.equal(saved.polls_offline, 2);

  h.clock.now += HOUR;
  const again = harness(h.dir, h.clock);
  assert.equal(again.state.load(), -1500, 'the persisted offset is handed to the link');
  assert.equal(again.state.serverNow(), h.clock.now - 1500);
  assert.equal(again.state.snapshot().offline_since, since, 'the outage goes on from when it began');
  assert.equal(again.state.admitPoll(), true);
  assert.equal(again.state.snapshot().polls_offline, 3);
  h.clock.now += HOUR + 1;
  assert.equal(again.state.admitPoll(), false);
  await again.state.close();
});

test('an agent killed while connected and restarted offline counts the outage from when it was last connected', async () => {
  const h = harness();
  h.state.load();
  h.state.linkUp();
  const connectedAt = h.state.serverNow();
  await h.state.close();
  h.clock.now += 3 * HOUR;
  const again = harness(h.dir, h.clock);
  again.state.load();
  assert.equal(again.state.snapshot().offline_since, connectedAt);
  assert.equal(again.state.snapshot().polling_paused, true, 'already past the limit');
  assert.equal(again.state.admitPoll(), false);
  await again.state.close();
});

test('a damaged state file is logged and ignored', async () => {
  const h = harness();
  writeFileSync(h.file, '{"format":1,"clock_offset_ms":"x"');
  assert.equal(h.state.load(), 0);
  assert.ok(h.logs.some((l) => l.level === 'error' && /damaged/.test(l.msg)));
  assert.equal(h.state.admitPoll(), true);
  await h.state.close();
  assert.equal(JSON.parse(readFileSync(h.file, 'utf8')).format, 1, 'rewritten whole');
});

test('the latest slot fired is saved and handed to the next start; one implausibly far ahead is ignored', async () => {
  const h = harness();
  let last: number | null = null;
  const file = h.file;
  const rec = () => {};
  const log = { info: rec, warn: rec, error: rec };
  const first = createOfflineState({
    file,
    maxOfflineMs: 2 * HOUR,
    log,
    localNow: () => h.clock.now,
    lastSlot: () => last,
  });
  first.load();
  assert.equal(first.savedLastSlot(), null, 'nothing saved yet');
  last = h.clock.now - 300;
  await first.close();
  assert.equal(readAgentState(file)!.last_slot, last);

  const again = harness(h.dir, h.clock);
  again.state.load();
  assert.equal(again.state.savedLastSlot(), last);
  await again.state.close();
  assert.equal(readAgentState(file)!.last_slot, last, 'kept until the schedule fires a later one');

  writeFileSync(file, JSON.stringify({ ...readAgentState(file)!, last_slot: h.clock.now + 2 * HOUR }));
  const ahead = harness(h.dir, h.clock);
  ahead.state.load();
  assert.equal(ahead.state.savedLastSlot(), null);
  assert.ok(ahead.logs.some((l) => l.level === 'warn' && /far ahead/.test(l.msg)));
  await ahead.state.close();
});

test('a larger offset measured after a reconnect is caught up gradually: server time never jumps, so no slot is skipped', async () => {
  const { createPollSchedule } = await import('./poll-schedule.ts');
  const h = harness();
  let schedule: ReturnType<typeof createPollSchedule> | undefined;
  const rec = () => {};
  const state = createOfflineState({
    file: h.file,
    maxOfflineMs: 2 * HOUR,
    log: { info: rec, warn: rec, error: rec },
    localNow: () => h.clock.now,
    lastSlot: () => schedule?.lastSlot() ?? null,
  });
  state.load();
  const slots: number[] = [];
  schedule = createPollSchedule({
    now: () => state.serverNow(),
    onDue: (p) => void slots.push(p.slot),
    timers: { set: () => 1, clear() {} },
  });
  schedule.start();
  schedule.replaceAll([
    {
      monitor_id: 5,
      target: { ip: '10.0.0.5', port: 5985, use_ssl: false },
      plugin: { type: 'windows-wmi' },
      interval_s: 1,
      timeout_ms: 900,
      credential: null,
    },
  ]);
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      h.clock.now += 100;
      schedule!.tick();
    }
  };
  run(5000);
  // Reconnected: the server is 12 s ahead of what the agent believed (its clock drifted offline).
  const before = state.serverNow();
  state.setOffset(12_000);
  assert.ok(state.serverNow() - before < 100, 'no jump');
  run(60_000);
  assert.equal(state.serverNow(), h.clock.now + 12_000, 'caught up within a minute');
  for (let i = 1; i < slots.length; i++)
    assert.equal(slots[i]! - slots[i - 1]!, 1000, `slot ${i} follows the one before`);
  assert.equal(schedule.stats().missed, 0);
  assert.ok(slots.length >= 5 + 60 + 12 - 2, `${slots.length} slots`);
  // Backwards: applied at once; the slots just wait (none repeated).
  state.setOffset(2_000);
  assert.equal(state.serverNow(), h.clock.now + 2_000);
  run(20_000);
  assert.equal(new Set(slots).size, slots.length);
  assert.equal(state.snapshot().clock_offset_ms, 2_000);
  await state.close();
});

test('a new agent applies its first measured offset at once, and a correction over a minute is applied at once', async () => {
  const h = harness();
  h.state.load();
  h.state.setOffset(45_000);
  assert.equal(h.state.serverNow(), h.clock.now + 45_000, 'nothing fired yet: no slot to skip');
  let last: number | null = h.clock.now;
  const rec = () => {};
  const fired = createOfflineState({
    file: h.file,
    maxOfflineMs: 2 * HOUR,
    log: { info: rec, warn: rec, error: rec },
    localNow: () => h.clock.now,
    lastSlot: () => last,
  });
  fired.load();
  fired.setOffset(61_000);
  assert.equal(fired.serverNow(), h.clock.now + 61_000);
  last = null;
  await fired.close();
  await h.state.close();
});
