import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Assignment, SealedCredential, ServerMessage } from '../../shared/protocol/index.ts';

type ScheduleFull = Extract<ServerMessage, { type: 'schedule.full' }>;
type ScheduleDelta = Extract<ServerMessage, { type: 'schedule.delta' }>;
import { createAssignmentStore, type AssignmentStoreOptions, type ScheduleChange } from './assignment-store.ts';

function assignment(id: number, extra: Partial<Assignment> = {}): Assignment {
  return {
    monitor_id: id,
    target: { ip: `10.1.0.${id % 250}`, port: 5985, use_ssl: false },
    plugin: { type: 'windows-wmi' },
    interval_s: 60,
    timeout_ms: 10_000,
    credential: { profile_id: 1, version: 0 },
    ...extra,
  };
}
const cred = (profile_id: number, version = 0): SealedCredential => ({
  profile_id,
  version,
  sealed: `jwe-${profile_id}-${version}`,
});
const full = (revision: number, assignments: Assignment[], more = false, credentials = [cred(1)]): ScheduleFull => ({
  type: 'schedule.full',
  revision,
  assignments,
  credentials,
  more,
});
const delta = (
  base: number,
  upsert: Assignment[],
  remove: number[] = [],
  credentials: SealedCredential[] = [],
): ScheduleDelta => ({ type: 'schedule.delta', base, revision: base + 1, upsert, remove, credentials });

function harness(extra: Partial<AssignmentStoreOptions> = {}, dir = mkdtempSync(join(tmpdir(), 'nmslite-store-'))) {
  const changes: ScheduleChange[] = [];
  const acks: number[] = [];
  const resyncs: { have: number | null; reason: string }[] = [];
  const logs: string[] = [];
  const rec = (_o: object, m: string) => void logs.push(m);
  const file = join(dir, 'schedule.json');
  const store = createAssignmentStore({
    file,
    log: { info: rec, warn: rec, error: rec },
    onChange: (c) => void changes.push(c),
    onPersisted: (r) => void acks.push(r),
    onResync: (have, reason) => void resyncs.push({ have, reason }),
    ...extra,
  });
  return { store, changes, acks, resyncs, logs, file, dir };
}

test('a full set in parts is applied once, on the last part, and acknowledged after it is on disk', async () => {
  const h = harness();
  h.store.applyFull(full(5, [assignment(1), assignment(2)], true));
  h.store.applyFull(full(5, [assignment(3)], true, []));
  assert.equal(h.store.revision(), null, 'nothing applied before the last part');
  assert.equal(h.changes.length, 0);
  h.store.applyFull(full(5, [assignment(4)], false, []));
  assert.equal(h.store.revision(), 5);
  assert.equal(h.store.size(), 4);
  assert.deepEqual(
    h.changes.map((c) => c.kind === 'full' && c.assignments.map((a) => a.monitor_id)),
    [[1, 2, 3, 4]],
  );
  await h.store.flush();
  assert.deepEqual(h.acks, [5]);
  assert.equal(JSON.parse(readFileSync(h.file, 'utf8')).revision, 5);
  assert.equal(statSync(h.file).mode & 0o777, 0o600);
});

test('a part with another revision restarts the accumulation', async () => {
  const h = harness();
  h.store.applyFull(full(5, [assignment(1), assignment(2)], true));
  h.store.applyFull(full(6, [assignment(7)], true));
  h.store.applyFull(full(6, [assignment(8)], false, []));
  assert.equal(h.store.revision(), 6);
  assert.deepEqual(
    [...h.store.assignments()].map((a) => a.monitor_id),
    [7, 8],
  );
});

test('a half-received set is dropped when the link goes down', () => {
  const h = harness();
  h.store.applyFull(full(5, [assignment(1)], true));
  h.store.linkDown();
  h.store.applyFull(full(5, [assignment(2)], false));
  assert.deepEqual(
    [...h.store.assignments()].map((a) => a.monitor_id),
    [2],
  );
});

test('a delta on the current revision applies upserts, removals and new credentials', async () => {
  const h = harness();
  h.store.applyFull(full(3, [assignment(1), assignment(2)]));
  h.store.applyDelta(
    delta(
      3,
      [
        assignment(2, { interval_s: 10, credential: { profile_id: 1, version: 1 } }),
        assignment(9, { credential: { profile_id: 4, version: 0 } }),
      ],
      [1],
      [cred(1, 1), cred(4)],
    ),
  );
  assert.equal(h.store.revision(), 4);
  assert.deepEqual(
    [...h.store.assignments()].map((a) => [a.monitor_id, a.interval_s]),
    [
      [2, 10],
      [9, 60],
    ],
  );
  assert.equal(h.store.credential({ profile_id: 1, version: 1 })?.sealed, 'jwe-1-1');
  assert.equal(h.store.credential({ profile_id: 1, version: 0 }), undefined, 'a version nothing refers to is dropped');
  assert.deepEqual(h.changes[1], {
    kind: 'delta',
    upsert: [
      assignment(2, { interval_s: 10, credential: { profile_id: 1, version: 1 } }),
      assignment(9, { credential: { profile_id: 4, version: 0 } }),
    ],
    remove: [1],
  });
  await h.store.flush();
  assert.equal(h.acks.at(-1), 4);
});

test('a delta whose base is not the current revision is not applied and asks for the full set once', () => {
  const h = harness();
  h.store.applyDelta(delta(0, [assignment(1)]));
  assert.deepEqual(h.resyncs, [{ have: null, reason: 'delta 0->1 does not apply to revision none' }]);
  h.store.applyFull(full(3, [assignment(1)]));
  h.store.applyDelta(delta(4, [assignment(2)]));
  h.store.applyDelta(delta(5, [assignment(3)]));
  assert.equal(h.store.revision(), 3);
  assert.deepEqual(
    [...h.store.assignments()].map((a) => a.monitor_id),
    [1],
  );
  assert.deepEqual(
    h.resyncs.slice(1),
    [{ have: 3, reason: 'delta 4->5 does not apply to revision 3' }],
    'one resync while the answer is awaited',
  );
});

test('a full set over the bound is refused and the previous set kept', () => {
  const h = harness({ maxMonitors: 3 });
  h.store.applyFull(full(1, [assignment(1)]));
  h.store.applyFull(full(2, [assignment(1), assignment(2)], true));
  h.store.applyFull(full(2, [assignment(3), assignment(4)], true));
  h.store.applyFull(full(2, [assignment(5)], false));
  assert.equal(h.store.revision(), 1);
  assert.equal(h.store.size(), 1);
  assert.ok(h.logs.some((l) => /larger than this agent holds/.test(l)));
});

test('the saved set is loaded by a new store (credentials still sealed), and a damaged file is ignored', async () => {
  const h = harness();
  h.store.applyFull(full(8, [assignment(1), assignment(2)]));
  await h.store.flush();
  assert.match(readFileSync(h.file, 'utf8'), /"sealed":"jwe-1-0"/);
  const again = harness({}, h.dir);
  assert.equal(again.store.load(), true);
  assert.equal(again.store.revision(), 8);
  assert.equal(again.store.size(), 2);
  assert.equal(again.store.credential({ profile_id: 1, version: 0 })?.sealed, 'jwe-1-0');
  assert.equal(again.changes[0]?.kind, 'full');

  for (const damage of [
    '{"format":1,"revision":',
    JSON.stringify({ format: 1, revision: 2, saved_at: 'x', assignments: [{ monitor_id: -1 }], credentials: [] }),
  ]) {
    writeFileSync(h.file, damage);
    const broken = harness({}, h.dir);
    assert.equal(broken.store.load(), false);
    assert.equal(broken.store.revision(), null);
    assert.ok(
      broken.logs.some((l) => /damaged and was ignored/.test(l)),
      broken.logs.join('; '),
    );
  }
  const none = harness();
  assert.equal(none.store.load(), false, 'no file: nothing loaded, nothing logged as damage');
  assert.deepEqual(none.logs, []);
});

test('a revision that could not be saved is not acknowledged; the save is retried and acknowledged once on disk', async () => {
  const h = harness({ saveRetryMs: 30 });
  // The temporary file's name is taken by a directory: every write fails, as on a full disk.
  mkdirSync(`${h.file}.tmp`);
  h.store.applyFull(full(7, [assignment(1)]));
  assert.equal(h.store.revision(), 7, 'applied in memory: polling goes on');
  assert.equal(h.changes.length, 1);
  await h.store.flush();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(h.acks, [], 'nothing acknowledged while the revision is not on disk');
  assert.ok(
    h.logs.some((l) => /could not be saved/.test(l)),
    h.logs.join('; '),
  );
  h.store.applyDelta(delta(7, [assignment(2)]));
  await h.store.flush();
  assert.deepEqual(h.acks, []);
  rmdirSync(`${h.file}.tmp`);
  const deadline = Date.now() + 5000;
  while (h.acks.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await h.store.flush();
  assert.deepEqual(h.acks, [8], 'the latest revision, once written');
  assert.equal(JSON.parse(readFileSync(h.file, 'utf8')).revision, 8);
  assert.equal(existsSync(`${h.file}.tmp`), false);
  await h.store.close();
});

test('close stops retrying a failed save', async () => {
  const h = harness({ saveRetryMs: 20 });
  mkdirSync(`${h.file}.tmp`);
  h.store.applyFull(full(3, [assignment(1)]));
  await h.store.flush();
  await h.store.close();
  const failures = h.logs.filter((l) => /could not be saved/.test(l)).length;
  rmdirSync(`${h.file}.tmp`);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(h.logs.filter((l) => /could not be saved/.test(l)).length, failures);
  assert.deepEqual(h.acks, []);
  assert.equal(existsSync(h.file), false);
});

test('close saves a revision applied while the previous one was being written', async () => {
  const h = harness();
  h.store.applyFull(full(1, [assignment(1)]));
  h.store.applyFull(full(2, [assignment(1), assignment(2)]));
  await h.store.close();
  assert.equal(JSON.parse(readFileSync(h.file, 'utf8')).revision, 2);
  assert.deepEqual(h.acks, [1, 2]);
});

test('a revision whose connection went down before it was saved is saved but not acknowledged on the next connection', async () => {
  const h = harness();
  h.store.applyFull(full(1, [assignment(1)]));
  h.store.linkDown();
  await h.store.flush();
  assert.equal(JSON.parse(readFileSync(h.file, 'utf8')).revision, 1, 'saved');
  assert.deepEqual(h.acks, [], 'the next connection never sent revision 1');
  h.store.applyFull(full(2, [assignment(1)]));
  await h.store.flush();
  assert.deepEqual(h.acks, [2]);
});
