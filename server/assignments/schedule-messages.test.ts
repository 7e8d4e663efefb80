import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Assignment, SealedCredential } from '../../shared/protocol/index.ts';
import { ScheduleDelta, ScheduleFull } from '../../shared/protocol/index.ts';
import type { AssignedMonitor } from './assignment-store.ts';
import { deltaMessage, diffAssignments, fullSetMessages } from './schedule-messages.ts';

const item = (id: number, profile = 1, config: unknown = {}): AssignedMonitor => {
  const assignment: Assignment = {
    monitor_id: id,
    target: { ip: `10.0.0.${id % 250}`, port: 5985, use_ssl: false },
    plugin: { type: 'windows-wmi', config },
    interval_s: 60,
    timeout_ms: 30_000,
    credential: { profile_id: profile, version: 1 },
  };
  return {
    agent_id: 1,
    device_id: id,
    plugin_id: 1,
    credential_profile_id: profile,
    assignment,
    json: JSON.stringify(assignment),
  };
};
const sealedFor = (profiles: number[]) =>
  new Map<string, SealedCredential>(
    profiles.map((p) => [`${p}:1`, { profile_id: p, version: 1, sealed: 'j'.repeat(600) }]),
  );

test('a full set is cut by count, by credentials and by bytes, each part carrying the credentials it refers to once', () => {
  const items = Array.from({ length: 10 }, (_, i) => item(i + 1, (i % 3) + 1));
  const byCount = fullSetMessages(7, items, sealedFor([1, 2, 3]), { assignments: 4, credentials: 100, bytes: 1e9 });
  assert.deepEqual(
    byCount.map((m) =>
      m.type === 'schedule.full' ? [m.assignments.length, m.credentials.length, m.more, m.revision] : [],
    ),
    [
      [4, 3, true, 7],
      [4, 3, true, 7],
      [2, 2, false, 7],
    ],
  );
  const byCreds = fullSetMessages(7, items, sealedFor([1, 2, 3]), { assignments: 100, credentials: 2, bytes: 1e9 });
  assert.ok(byCreds.every((m) => m.type === 'schedule.full' && m.credentials.length <= 2));
  assert.equal(byCreds.flatMap((m) => (m.type === 'schedule.full' ? m.assignments : [])).length, 10, 'nothing lost');
  const big = Array.from({ length: 6 }, (_, i) => item(i + 1, 1, { blob: 'x'.repeat(1000) }));
  const byBytes = fullSetMessages(7, big, sealedFor([1]), { assignments: 100, credentials: 100, bytes: 2500 });
  assert.ok(byBytes.length >= 3, `${byBytes.length} parts`);
  for (const m of byBytes) {
    assert.ok(Buffer.byteLength(JSON.stringify(m)) < 2500 + 200, 'each part within the budget (plus the envelope)');
    assert.ok(ScheduleFull.safeParse(m).success);
  }
  const empty = fullSetMessages(9, [], new Map(), { assignments: 4, credentials: 4, bytes: 1000 });
  assert.deepEqual(
    empty,
    [{ type: 'schedule.full', revision: 9, assignments: [], credentials: [], more: false }],
    'an empty set is one part',
  );
});

test('a delta names upserts and removals against its base, and gives up (full set instead) when it would not fit', () => {
  const before = new Map([1, 2, 3].map((id) => [id, item(id)]));
  const changed = item(2);
  changed.assignment = { ...changed.assignment, interval_s: 120 };
  changed.json = JSON.stringify(changed.assignment);
  const after = new Map([
    [1, item(1)],
    [2, changed],
    [4, item(4)],
  ]);
  const change = diffAssignments(before, after);
  assert.deepEqual([change.upsert.map((a) => a.assignment.monitor_id), change.remove], [[2, 4], [3]]);
  const d = deltaMessage(41, change, sealedFor([1]), { assignments: 100, credentials: 100, bytes: 1e6 });
  assert.ok(d && ScheduleDelta.safeParse(d).success);
  assert.deepEqual(d && d.type === 'schedule.delta' ? [d.base, d.revision, d.credentials.length] : [], [41, 42, 1]);
  assert.equal(
    deltaMessage(41, change, sealedFor([1]), { assignments: 1, credentials: 100, bytes: 1e6 }),
    undefined,
    'too many upserts',
  );
  assert.equal(
    deltaMessage(41, change, sealedFor([1]), { assignments: 100, credentials: 100, bytes: 500 }),
    undefined,
    'too many bytes',
  );
});
