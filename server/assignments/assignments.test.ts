import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Assignment, SealedCredential, ServerMessage } from '../../shared/protocol/index.ts';
import { createEventBus } from '../events.ts';
import { createLog } from '../log.ts';
import { inSubset, type AssignedMonitor, type AssignmentStore } from './assignment-store.ts';
import { createAssignmentService } from './assignments.ts';

interface Row {
  id: number;
  agent: number;
  device: number;
  interval: number;
  credential?: { profile: number; version: number };
  enabled: boolean;
  deviceActive: boolean;
}

/** The assignment store over an in-memory table, counting what each read asked for. */
function memoryStore(rows: Row[], gate: () => Promise<void> | undefined = () => undefined) {
  const reads = { whole: 0, some: [] as Record<string, number[]>[] };
  const toAssigned = (r: Row): AssignedMonitor => {
    const assignment: Assignment = {
      monitor_id: r.id,
      target: { ip: `10.0.${r.device >> 8}.${r.device & 255}`, port: 5985, use_ssl: false },
      plugin: { type: 'windows-wmi', config: {} },
      interval_s: r.interval,
      timeout_ms: 1000,
      credential: { profile_id: r.credential?.profile ?? 1, version: r.credential?.version ?? 1 },
    };
    return {
      agent_id: r.agent,
      device_id: r.device,
      plugin_id: 1,
      credential_profile_id: r.credential?.profile ?? 1,
      assignment,
      json: JSON.stringify(assignment),
    };
  };
  const scheduled = (agentId: number) => rows.filter((r) => r.agent === agentId && r.enabled && r.deviceActive);
  const store: AssignmentStore = {
    loadAll: async () => rows.filter((r) => r.enabled && r.deviceActive).map(toAssigned),
    async loadAgent(agentId) {
      reads.whole++;
      return scheduled(agentId).map(toAssigned);
    },
    async loadSome(agentId, part) {
      await gate();
      const named = Object.fromEntries(
        Object.entries(part)
          .filter(([, v]) => v instanceof Set && v.size > 0)
          .map(([k, v]) => [k, [...(v as Set<number>)]]),
      );
      reads.some.push(named);
      return scheduled(agentId)
        .map(toAssigned)
        .filter((a) => inSubset(part, a));
    },
    loadMonitor: async (id) => rows.filter((r) => r.id === id).map(toAssigned)[0],
    agentOfMonitor: async (id) => rows.find((r) => r.id === id)?.agent,
    agentOfDevice: async (id) => rows.find((r) => r.device === id)?.agent,
    agentsWithMonitors: async () => [...new Set(rows.map((r) => r.agent))],
  };
  return { store, reads };
}

/** One agent's link: what it was sent, on which connection. */
function memoryLinks() {
  const online = new Map<number, number>();
  const sent: { agent: number; connection: number; msg: ServerMessage }[] = [];
  return {
    online,
    sent,
    links: {
      send(agentId: number, msg: ServerMessage) {
        const c = online.get(agentId);
        if (c === undefined) return false;
        sent.push({ agent: agentId, connection: c, msg });
        return true;
      },
      connection: (agentId: number) => online.get(agentId),
      onlineAgents: () => [...online.keys()],
    },
  };
}

function setup(
  rows: Row[],
  o: {
    sealer?: (agentId: number) => Promise<SealedCredential>;
    retryMs?: number;
    readGate?: () => Promise<void> | undefined;
  } = {},
) {
  const events = createEventBus();
  const { store, reads } = memoryStore(rows, o.readGate);
  const l = memoryLinks();
  const tracked = new Map<number, number>();
  const service = createAssignmentService({
    store,
    links: l.links,
    sealer: {
      sealRef: o.sealer ?? (async () => ({ profile_id: 1, version: 1, sealed: 'sealed-jwe' })),
      forgetProfile() {},
    },
    tracker: { set: (e) => tracked.set(e.monitor_id, e.interval_ms), remove: (id) => tracked.delete(id) },
    events,
    log: createLog('silent'),
    debounceMs: 10,
    ...(o.retryMs !== undefined ? { retryMs: o.retryMs } : {}),
  });
  const connect = (agentId: number, connection: number) => {
    l.online.set(agentId, connection);
    events.emit('agent.online', { id: agentId, connection });
  };
  return { events, rows, reads, service, tracked, connect, ...l };
}

const site = (agent: number, n: number, firstId = 1): Row[] =>
  Array.from({ length: n }, (_, i) => ({
    id: firstId + i,
    agent,
    device: firstId + i,
    interval: 60,
    enabled: true,
    deviceActive: true,
  }));

const deltas = (sent: { msg: ServerMessage }[]) =>
  sent
    .map((x) => x.msg)
    .filter((m): m is Extract<ServerMessage, { type: 'schedule.delta' }> => m.type === 'schedule.delta');

test("a change to one monitor or one device re-reads only that monitor or device, not the agent's whole set", async () => {
  const t = setup(site(1, 5000));
  await t.service.start();
  t.connect(1, 1);
  await t.service.settled();
  assert.equal(t.reads.whole, 1, 'the connect reads the whole set');

  t.rows[6]!.interval = 120;
  t.events.emit('monitor.changed', { id: 7 });
  await new Promise((r) => setTimeout(r, 5));
  await t.service.settled();
  t.rows[9]!.deviceActive = false;
  t.events.emit('device.status_changed', { id: 10, status: 'inactive' });
  await new Promise((r) => setTimeout(r, 5));
  await t.service.settled();
  t.events.emit('monitor.changed', { id: 4000, deleted: true });
  t.rows.splice(3999, 1);
  await t.service.settled();

  assert.equal(t.reads.whole, 1, 'no further whole reads');
  assert.deepEqual(t.reads.some, [{ monitors: [7] }, { devices: [10] }, { monitors: [4000] }]);
  assert.deepEqual(
    deltas(t.sent).map((d) => [d.upsert.map((a) => [a.monitor_id, a.interval_s]), d.remove]),
    [
      [[[7, 120]], []],
      [[], [10]],
      [[], [4000]],
    ],
  );
  assert.equal(t.service.scheduleOf(1).monitors_assigned, 4998);
  assert.equal(t.tracked.get(7), 120_000, 'the tracker follows');
  assert.ok(!t.tracked.has(10) && !t.tracked.has(4000));
});

test('changes to more than a thousand monitors in one window are one read of the whole set', async () => {
  const t = setup(site(1, 3000));
  await t.service.start();
  t.connect(1, 1);
  await t.service.settled();
  for (const r of t.rows) r.interval = 30;
  for (const r of t.rows) t.events.emit('monitor.changed', { id: r.id });
  await new Promise((r) => setTimeout(r, 5));
  await t.service.settled();
  assert.equal(t.reads.whole, 2);
  assert.equal(t.reads.some.length, 0);
  const full = t.sent.map((x) => x.msg).filter((m) => m.type === 'schedule.full');
  assert.equal(full.length + deltas(t.sent).length, 2, "the connect's full set, then one message for the change");
});

test('a delta being prepared when the agent reconnects is not sent to the new session ahead of its full set', async () => {
  let gate: Promise<void> | undefined;
  let open = () => {};
  const t = setup(site(1, 3), {
    sealer: async () => {
      await gate;
      return { profile_id: 1, version: 1, sealed: 'sealed-jwe' };
    },
  });
  await t.service.start();
  t.connect(1, 1);
  await t.service.settled();
  gate = new Promise((r) => (open = r));
  t.rows[0]!.interval = 120;
  t.events.emit('monitor.changed', { id: 1 });
  await new Promise((r) => setTimeout(r, 30));
  // The delta waits for its credential; meanwhile the agent's link drops and it dials again.
  t.events.emit('agent.offline', { id: 1, connection: 1 });
  t.connect(1, 2);
  open();
  gate = undefined;
  await t.service.settled();
  const second = t.sent.filter((x) => x.connection === 2).map((x) => x.msg);
  assert.equal(
    second[0]?.type,
    'schedule.full',
    `the new session starts with its full set (got ${second.map((m) => m.type).join(', ')})`,
  );
  assert.equal(second.filter((m) => m.type === 'schedule.delta').length, 0, 'the change travels inside that full set');
  const full = second[0] as Extract<ServerMessage, { type: 'schedule.full' }>;
  assert.equal(full.assignments.find((a) => a.monitor_id === 1)?.interval_s, 120);
});

test('a burst of resyncs and mismatched acks costs one full set, not one each', async () => {
  let gate: Promise<void> | undefined;
  let open = () => {};
  const t = setup(site(1, 20), {
    sealer: async () => {
      await gate;
      return { profile_id: 1, version: 1, sealed: 'sealed-jwe' };
    },
  });
  await t.service.start();
  t.connect(1, 1);
  await t.service.settled();
  const fulls = () => t.sent.filter((x) => x.msg.type === 'schedule.full').length;
  assert.equal(fulls(), 1);
  // The first request's set is being built (sealing) while 200 more arrive.
  gate = new Promise((r) => (open = r));
  t.service.resync(1, 1, null, 'lost my state');
  await new Promise((r) => setTimeout(r, 5));
  for (let i = 0; i < 100; i++) {
    t.service.resync(1, 1, 5, 'gap');
    t.service.acknowledged(1, 1, 12345);
  }
  open();
  gate = undefined;
  await t.service.settled();
  assert.equal(fulls(), 3, 'the one being built, then one for everything asked meanwhile');
  t.service.resync(1, 2, null, 'an old connection');
  await t.service.settled();
  assert.equal(fulls(), 3, 'a request from another connection is ignored');
});

test('a credential profile change re-reads only the monitors using it', async () => {
  const rows = site(1, 2000);
  for (const r of rows.slice(0, 3)) r.credential = { profile: 9, version: 1 };
  const t = setup(rows);
  await t.service.start();
  t.connect(1, 1);
  await t.service.settled();
  for (const r of rows.slice(0, 3)) r.credential = { profile: 9, version: 2 };
  t.events.emit('credential.changed', { id: 9, version: 2 });
  await new Promise((r) => setTimeout(r, 5));
  await t.service.settled();
  assert.equal(t.reads.whole, 1);
  assert.deepEqual(t.reads.some, [{ credentials: [9] }]);
  const [d] = deltas(t.sent);
  assert.deepEqual(
    d!.upsert.map((a) => [a.monitor_id, a.credential?.version]),
    [
      [1, 2],
      [2, 2],
      [3, 2],
    ],
  );
  assert.deepEqual(d!.remove, []);
});

test('an ack of any revision sent on the connection is progress, however many deltas went out since', async () => {
  const t = setup(site(1, 200));
  await t.service.start();
  t.connect(1, 1);
  await t.service.settled();
  for (let i = 0; i < 100; i++) {
    t.rows[i]!.interval = 120;
    t.events.emit('monitor.changed', { id: i + 1 });
    await new Promise((r) => setTimeout(r, 12));
    await t.service.settled();
  }
  const ds = deltas(t.sent);
  assert.ok(ds.length > 64, `${ds.length} deltas`);
  const fulls = () => t.sent.filter((x) => x.msg.type === 'schedule.full').length;
  // A slow agent acknowledges the first delta only now.
  t.service.acknowledged(1, 1, ds[0]!.revision);
  await t.service.settled();
  assert.equal(fulls(), 1, 'no full set for a late but valid ack');
  assert.equal(t.service.scheduleOf(1).revision_acked, ds[0]!.revision);
  t.service.acknowledged(1, 1, ds.at(-1)!.revision + 1);
  await t.service.settled();
  assert.equal(fulls(), 2, 'a revision never sent still brings the full set');
});

test('a credential that could not be sealed is sent again with the full set after a backoff', async () => {
  let failures = 2;
  const t = setup(site(1, 3), {
    retryMs: 150,
    sealer: async () => {
      if (failures-- > 0) throw new Error('database unavailable');
      return { profile_id: 1, version: 1, sealed: 'sealed-jwe' };
    },
  });
  await t.service.start();
  const t0 = Date.now();
  t.connect(1, 1);
  await t.service.settled();
  const fulls = () =>
    t.sent
      .map((x) => x.msg)
      .filter((m): m is Extract<ServerMessage, { type: 'schedule.full' }> => m.type === 'schedule.full');
  const at = async (ms: number) => {
    await new Promise((r) => setTimeout(r, t0 + ms - Date.now()));
    await t.service.settled();
    return fulls().map((m) => m.credentials.length);
  };
  assert.deepEqual(await at(0), [0], 'the set goes out without the credential');
  assert.deepEqual(await at(250), [0, 0], 'retried after 150 ms, failed again');
  assert.deepEqual(await at(380), [0, 0], 'the second wait is longer (300 ms)');
  assert.deepEqual(await at(600), [0, 0, 1], 'then the credential arrives');
  assert.deepEqual(await at(1200), [0, 0, 1], 'and no more retries');
  await t.service.stop();
});

test('results wait for a re-read still running after its window closed: a monitor deleted just before is not stored', async () => {
  let gate: Promise<void> | undefined;
  let open = () => {};
  const t = setup(site(1, 3), { readGate: () => gate });
  await t.service.start();
  t.connect(1, 1);
  await t.service.settled();
  gate = new Promise((r) => (open = r));
  t.rows.splice(1, 1);
  t.events.emit('monitor.changed', { id: 2, deleted: true });
  await new Promise((r) => setTimeout(r, 40));
  // The window closed; its re-read waits for the database. A batch for the deleted monitor arrives.
  const result = {
    seq: 1,
    job_id: 'x',
    monitor_id: 2,
    time: new Date(Date.now() - 1000).toISOString(),
    attempts: 1,
    failure: { class: 'timeout' as const, message: 'late' },
  };
  const owned = t.service.ownResults(1, [result]);
  await new Promise((r) => setTimeout(r, 20));
  open();
  assert.deepEqual(await owned, [], 'dropped once the re-read has run');
});
