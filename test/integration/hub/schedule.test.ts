import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { CloseCode, PROTOCOL_VERSION, type ServerMessage } from '../../../shared/protocol/index.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { connectRaw, enrollRaw, type RawAgent } from './raw-agent.ts';
import { TEST_SAMPLE as metrics } from '../../helpers/metric-samples.ts';

let s: TestServer;
let db: pg.Client;
before(async () => {
  // Parts of 3 assignments, so a handful of monitors already travels in parts.
  s = await startTestServer({
    agents: { heartbeat_ms: 1000, schedule_part_assignments: 3 },
    polling: { job_timeout_s: 1, on_demand_per_agent: 2, on_demand_margin_s: 1 },
  });
  db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
});
after(async () => {
  await db.end();
  await s.stop();
});

let seq = 0;
const uniq = (p: string) => `${p}-${++seq}-${Date.now() % 100000}`;

async function site(name: string, monitors = 0, o: { interval?: number } = {}) {
  const agent = await enrollRaw(s, uniq(name));
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: uniq(`${name}-cred`),
      type: 'winrm_ntlm',
      username: 'svc',
      password: 'Secret-1',
      domain: 'CORP',
    })
  ).body;
  const ids: number[] = [];
  const devices: number[] = [];
  for (let i = 0; i < monitors; i++) {
    const dev = (
      await s.api('POST', '/api/v1/devices', {
        agent_id: agent.agent_id,
        ip: `10.${seq % 250}.${i >> 8}.${(i & 255) + 1}`,
      })
    ).body;
    devices.push(dev.id);
    const mon = await s.api('POST', '/api/v1/monitors', {
      device_id: dev.id,
      credential_profile_id: cred.id,
      plugin_id: 1,
      polling_interval: o.interval ?? 60,
    });
    assert.equal(mon.status, 201);
    ids.push(mon.body.id);
  }
  return { agent, cred, ids, devices };
}

/** The next delta after message index `from`, and how long after `t0` it arrived. */
async function deltaAfter(a: RawAgent, from: number, t0: number) {
  const d = await a.next('schedule.delta', undefined, 3000, from);
  return { d, ms: Date.now() - t0 };
}

test('an agent speaking protocol 1 is refused with the version-mismatch code and told to upgrade', async () => {
  const id = await enrollRaw(s, uniq('old-agent'));
  const a = await connectRaw(s, id, { protocol: 1 });
  const closed = await a.closed;
  assert.equal(closed.code, CloseCode.versionMismatch);
  assert.match(
    closed.reason,
    new RegExp(`protocol 1 is not supported \\(server speaks ${PROTOCOL_VERSION}\\): upgrade the agent`),
  );
  assert.deepEqual(a.messages, [], 'nothing is sent to it');
});

test('an agent speaking a newer protocol is refused with the version-mismatch code and told the server is the older one', async () => {
  const id = await enrollRaw(s, uniq('new-agent'));
  const a = await connectRaw(s, id, { protocol: PROTOCOL_VERSION + 1 });
  const closed = await a.closed;
  assert.equal(closed.code, CloseCode.versionMismatch);
  assert.match(
    closed.reason,
    new RegExp(
      `protocol ${PROTOCOL_VERSION + 1} is not supported \\(server speaks ${PROTOCOL_VERSION}\\): upgrade the server`,
    ),
  );
});

test('on connect the agent gets its whole set in parts: enabled monitors on schedulable devices, each with target, plugin, interval, timeout and a credential sealed to it', async () => {
  const { agent, cred, ids, devices } = await site('full', 7, { interval: 30 });
  await s.api('PUT', `/api/v1/monitors/${ids[5]}`, { enabled: false });
  await s.api('PUT', `/api/v1/devices/${devices[6]}`, { status: 'inactive' });
  const a = await connectRaw(s, agent);
  const last = await a.next('schedule.full', (m) => !m.more);
  const parts = a.messages.filter(
    (m): m is Extract<ServerMessage, { type: 'schedule.full' }> => m.type === 'schedule.full',
  );
  assert.equal(parts.length, 2, '5 assignments in parts of 3');
  assert.deepEqual(
    parts.map((p) => p.more),
    [true, false],
  );
  assert.ok(
    parts.every((p) => p.revision === last.revision),
    'one revision for all parts',
  );
  assert.ok(parts.every((p) => p.assignments.length <= 3));
  assert.ok(last.revision > 1_700_000_000_000, 'revisions start at the server start time (epoch ms)');
  const held = a.held();
  assert.deepEqual(
    [...held.keys()].sort((x, y) => x - y),
    ids.slice(0, 5),
    'the disabled monitor and the inactive device are left out',
  );
  const first = held.get(ids[0]!)!;
  assert.deepEqual(first.target, { ip: first.target.ip, port: 5985, use_ssl: false });
  assert.equal(first.plugin.type, 'windows-wmi');
  assert.equal(first.interval_s, 30);
  assert.equal(first.timeout_ms, 1000, 'min(job_timeout_s, interval)');
  assert.deepEqual(first.credential, { profile_id: cred.id, version: 1 });
  for (const p of parts) {
    assert.equal(p.credentials.length, 1, 'each part carries its credential once');
    const opened = await a.unseal(p.credentials[0]!.sealed);
    assert.equal(opened.password, 'Secret-1', 'sealed to this agent');
  }
  a.send({ type: 'schedule.ack', revision: last.revision });
  await waitFor(
    async () => (await s.api('GET', `/api/v1/agents/${agent.agent_id}`)).body.schedule.revision_acked === last.revision,
  );
  const shown = (await s.api('GET', `/api/v1/agents/${agent.agent_id}`)).body;
  assert.deepEqual(
    { ...shown.schedule, agent_revision: undefined },
    { revision_sent: last.revision, revision_acked: last.revision, monitors_assigned: 5, agent_revision: undefined },
  );
  assert.ok(!JSON.stringify(shown).includes('Secret-1'));
  a.close();
});

test('every kind of change reaches the connected agent as one delta within 1 s, each based on the revision before', async () => {
  const { agent, cred, ids, devices } = await site('delta', 2);
  const plugin = (
    await s.api('POST', '/api/v1/plugins', { name: uniq('ext'), type: 'external', config: { command: 'check-a' } })
  ).body;
  const a = await connectRaw(s, agent);
  let revision = (await a.next('schedule.full', (m) => !m.more)).revision;
  const change = async (
    what: string,
    call: () => Promise<{ status: number; body: any }>,
    check: (d: Extract<ServerMessage, { type: 'schedule.delta' }>, body: any) => void,
  ) => {
    const from = a.messages.length;
    const t0 = Date.now();
    const r = await call();
    assert.ok(r.status < 300, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
    const { d, ms } = await deltaAfter(a, from, t0);
    assert.ok(ms < 1000, `${what}: delta after ${ms} ms`);
    assert.equal(d.base, revision, `${what}: based on the last revision`);
    assert.equal(d.revision, revision + 1);
    revision = d.revision;
    check(d, r.body);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(a.messages.slice(from).filter((m) => m.type === 'schedule.delta').length, 1, `${what}: one delta`);
  };
  let created = 0;
  await change(
    'create',
    async () =>
      s.api('POST', '/api/v1/monitors', {
        device_id: devices[0],
        credential_profile_id: cred.id,
        plugin_id: plugin.id,
        polling_interval: 60,
      }),
    (d, body) => {
      created = body.id;
      assert.deepEqual(
        d.upsert.map((x) => x.monitor_id),
        [created],
      );
      assert.deepEqual(
        [d.upsert[0]!.plugin.type, (d.upsert[0]!.plugin.config as { command: string }).command],
        ['external', 'check-a'],
      );
      assert.deepEqual(d.remove, []);
      assert.equal(d.credentials.length, 1);
    },
  );
  await change(
    'interval',
    () => s.api('PUT', `/api/v1/monitors/${ids[0]}`, { polling_interval: 120 }),
    (d) => {
      assert.deepEqual(
        d.upsert.map((x) => [x.monitor_id, x.interval_s]),
        [[ids[0], 120]],
      );
    },
  );
  await change(
    'disable',
    () => s.api('PUT', `/api/v1/monitors/${ids[1]}`, { enabled: false }),
    (d) => assert.deepEqual([d.upsert.length, d.remove], [0, [ids[1]]]),
  );
  await change(
    'enable',
    () => s.api('PUT', `/api/v1/monitors/${ids[1]}`, { enabled: true }),
    (d) =>
      assert.deepEqual(
        d.upsert.map((x) => x.monitor_id),
        [ids[1]],
      ),
  );
  await change(
    'device deactivated',
    () => s.api('PUT', `/api/v1/devices/${devices[1]}`, { status: 'inactive' }),
    (d) => assert.deepEqual(d.remove, [ids[1]]),
  );
  await change(
    'device reactivated',
    () => s.api('PUT', `/api/v1/devices/${devices[1]}`, { status: 'active' }),
    (d) =>
      assert.deepEqual(
        d.upsert.map((x) => x.monitor_id),
        [ids[1]],
      ),
  );
  await change(
    'device port and TLS',
    () => s.api('PUT', `/api/v1/devices/${devices[1]}`, { port: 5986, use_ssl: true }),
    (d) => {
      assert.deepEqual(
        d.upsert.map((x) => [x.monitor_id, x.target.port, x.target.use_ssl]),
        [[ids[1], 5986, true]],
      );
    },
  );
  await change(
    'credential',
    () => s.api('PUT', `/api/v1/credential-profiles/${cred.id}`, { password: 'Secret-2' }),
    async (d) => {
      assert.deepEqual(
        d.upsert.map((x) => x.monitor_id).sort((x, y) => x - y),
        [...ids, created].sort((x, y) => x - y),
      );
      assert.ok(d.upsert.every((x) => x.credential?.version === 2));
      assert.deepEqual(
        d.credentials.map((c) => [c.profile_id, c.version]),
        [[cred.id, 2]],
      );
      assert.equal((await a.unseal(d.credentials[0]!.sealed)).password, 'Secret-2', 're-sealed');
    },
  );
  await change(
    'plugin',
    () => s.api('PUT', `/api/v1/plugins/${plugin.id}`, { config: { command: 'check-b' } }),
    (d) => {
      assert.deepEqual(
        d.upsert.map((x) => [x.monitor_id, (x.plugin.config as { command: string }).command]),
        [[created, 'check-b']],
      );
    },
  );
  await change(
    'delete',
    () => s.api('DELETE', `/api/v1/monitors/${created}`),
    (d) => assert.deepEqual([d.upsert, d.remove], [[], [created]]),
  );
  const held = a.held();
  assert.deepEqual(
    [...held.keys()].sort((x, y) => x - y),
    ids,
    'what the agent holds is what the server has',
  );
  a.close();
});

test('the health monitor deactivating a device takes its monitors off the agent', async () => {
  const { agent, ids, devices } = await site('health-off', 1);
  const a = await connectRaw(s, agent);
  await a.next('schedule.full', (m) => !m.more);
  const from = a.messages.length;
  const t0 = Date.now();
  // Five consecutive unreachable results (the default threshold) from the agent itself.
  const base = Date.now() - 300_000;
  a.send({
    type: 'results.batch',
    results: Array.from({ length: 5 }, (_, i) => ({
      seq: i + 1,
      job_id: `h${i}`,
      monitor_id: ids[0],
      time: new Date(base + i * 60_000).toISOString(),
      attempts: 3,
      failure: { class: 'unreachable', message: 'no route' },
    })),
  });
  const { d } = await deltaAfter(a, from, t0);
  assert.deepEqual(d.remove, ids);
  assert.equal((await s.api('GET', `/api/v1/devices/${devices[0]}`)).body.status, 'inactive');
  a.close();
});

test('an ack for a revision that was never sent, or a resync request, brings the full set again', async () => {
  const { agent, ids } = await site('resync', 2);
  const a = await connectRaw(s, agent);
  const first = await a.next('schedule.full', (m) => !m.more);
  a.send({ type: 'schedule.ack', revision: first.revision - 5 });
  const again = await a.next('schedule.full', (m) => !m.more && m.revision > first.revision);
  assert.deepEqual(
    again.assignments.map((x) => x.monitor_id).sort((x, y) => x - y),
    ids,
  );
  a.send({ type: 'schedule.ack', revision: again.revision });
  const n = a.messages.length;
  a.send({ type: 'schedule.resync', have: null, reason: 'lost my state' });
  const third = await a.next('schedule.full', (m) => !m.more, 3000, n);
  assert.ok(third.revision > again.revision);
  a.close();
});

test("results for monitors not in the agent's current set are acknowledged and dropped, never stored", async () => {
  const mine = await site('owner', 2);
  const other = await site('other', 1);
  await s.api('PUT', `/api/v1/monitors/${mine.ids[1]}`, { enabled: false });
  const a = await connectRaw(s, mine.agent);
  await a.next('schedule.full', (m) => !m.more);
  const time = '2026-11-20T10:00:00.000Z';
  a.send({
    type: 'results.batch',
    results: [
      { seq: 1, job_id: 'a', monitor_id: mine.ids[0], time, attempts: 1, metrics },
      { seq: 2, job_id: 'b', monitor_id: mine.ids[1], time, attempts: 1, metrics },
      {
        seq: 3,
        job_id: 'c',
        monitor_id: other.ids[0],
        time,
        attempts: 1,
        failure: { class: 'auth', message: 'forged' },
      },
      { seq: 4, job_id: 'd', monitor_id: 2_000_000_000, time, attempts: 1, metrics },
    ],
  });
  const ack = await a.next('results.ack');
  assert.deepEqual(ack.seqs, [1, 2, 3, 4], 'everything acknowledged');
  const rows = await db.query('SELECT monitor_id FROM metrics WHERE monitor_id = ANY($1::int[])', [
    [...mine.ids, ...other.ids],
  ]);
  assert.deepEqual(
    rows.rows.map((r) => r.monitor_id),
    [mine.ids[0]],
    'only the assigned monitor got a row',
  );
  const state = await db.query(
    'SELECT id, last_error, consecutive_failures, last_polled FROM monitors WHERE id = ANY($1::int[]) ORDER BY id',
    [[mine.ids[1], other.ids[0]]],
  );
  assert.deepEqual(
    state.rows.map((r) => [r.last_error, r.consecutive_failures, r.last_polled]),
    [
      [null, 0, null],
      [null, 0, null],
    ],
    'their state is untouched',
  );
  assert.ok(
    s.logs.some((l) => l.includes('acknowledged and dropped') && l.includes('"dropped":3')),
    'one log line with the count',
  );
  a.close();
});

test('a result stamped far ahead of the server clock is acknowledged and dropped, leaving last_polled and the failure count alone', async () => {
  const { agent, ids } = await site('future', 1);
  const a = await connectRaw(s, agent);
  await a.next('schedule.full', (m) => !m.more);
  const now = new Date(Date.now() - 60_000).toISOString();
  const ahead = new Date(Date.now() + 86_400_000).toISOString();
  a.send({
    type: 'results.batch',
    results: [
      { seq: 1, job_id: 'a', monitor_id: ids[0], time: ahead, attempts: 1, metrics },
      { seq: 2, job_id: 'b', monitor_id: ids[0], time: now, attempts: 1, metrics },
    ],
  });
  assert.deepEqual((await a.next('results.ack')).seqs, [1, 2]);
  const rows = await db.query('SELECT time FROM metrics WHERE monitor_id = $1', [ids[0]]);
  assert.deepEqual(
    rows.rows.map((r) => r.time.toISOString()),
    [now],
    'only the result in the past is stored',
  );
  const m = (await s.api('GET', `/api/v1/monitors/${ids[0]}`)).body;
  assert.equal(m.last_polled, now, 'last_polled is not pushed into the future');
  assert.ok(s.logs.some((l) => l.includes('stamped ahead of the server') && l.includes(ahead)));
  a.close();
});

test('POST /monitors/:id/poll polls now through the agent and answers with the metrics or the failure, storing nothing', async () => {
  const { agent, ids } = await site('on-demand', 2);
  await s.api('PUT', `/api/v1/monitors/${ids[1]}`, { enabled: false });
  assert.equal(
    (await s.api('POST', `/api/v1/monitors/${ids[0]}/poll`)).body.failure.class,
    'agent_offline',
    'offline agent: at once',
  );
  const a = await connectRaw(s, agent);
  await a.next('schedule.full', (m) => !m.more);
  const answered: string[] = [];
  const answer = (i: number, ok: boolean) =>
    a
      .next('poll.now', (m) => !answered.includes(m.request_id), 5000)
      .then(async (m) => {
        answered.push(m.request_id);
        assert.equal(m.credential?.profile_id, m.assignment.credential?.profile_id);
        assert.equal((await a.unseal(m.credential!.sealed)).username, 'svc');
        const time = new Date().toISOString();
        a.send(
          ok
            ? { type: 'poll.result', request_id: m.request_id, time, attempts: 1, metrics }
            : {
                type: 'poll.result',
                request_id: m.request_id,
                time,
                attempts: 3,
                failure: { class: 'auth', message: 'access denied' },
              },
        );
        return m;
      });
  const [r1, polled] = await Promise.all([s.api('POST', `/api/v1/monitors/${ids[0]}/poll`), answer(0, true)]);
  assert.equal(r1.status, 200);
  assert.equal(polled.assignment.monitor_id, ids[0]);
  assert.equal(r1.body.ok, true);
  assert.equal(r1.body.monitor_id, ids[0]);
  assert.equal(r1.body.metrics.memory.usage_percent, 50, 'the same shape as GET /metrics');
  const [r2] = await Promise.all([s.api('POST', `/api/v1/monitors/${ids[1]}/poll`), answer(1, false)]);
  assert.deepEqual(
    [r2.status, r2.body.ok, r2.body.failure],
    [200, false, { class: 'auth', message: 'access denied' }],
    'a disabled monitor can be polled on demand',
  );
  assert.equal(
    (await db.query('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = ANY($1::int[])', [ids])).rows[0].n,
    0,
    'nothing stored',
  );
  assert.equal((await s.api('POST', '/api/v1/monitors/999999/poll')).status, 404);

  // Unanswered: two in flight (the limit in this server), the third is refused, then both time out.
  const t0 = Date.now();
  const slow = [s.api('POST', `/api/v1/monitors/${ids[0]}/poll`), s.api('POST', `/api/v1/monitors/${ids[0]}/poll`)];
  await a.next('poll.now', (m) => !answered.includes(m.request_id), 3000);
  await new Promise((r) => setTimeout(r, 100));
  const refused = await s.api('POST', `/api/v1/monitors/${ids[0]}/poll`);
  assert.equal(refused.status, 429);
  assert.match(refused.body.error.message, /too many on-demand polls .* \(limit 2\)/);
  const timedOut = await Promise.all(slow);
  assert.deepEqual(
    timedOut.map((r) => r.body.failure?.class),
    ['timeout', 'timeout'],
  );
  assert.ok(Date.now() - t0 >= 1900 && Date.now() - t0 < 5000, `timeout_ms + margin (${Date.now() - t0} ms)`);
  const tr = await s.api('POST', '/trpc/monitors.poll', { id: 999999 });
  assert.equal(tr.status, 404, 'the typed procedure exists');
  a.close();
});

test('an on-demand poll is answered only by the agent it was sent to', async () => {
  const mine = await site('answer-mine', 1);
  const other = await site('answer-other', 1);
  const a = await connectRaw(s, mine.agent);
  const b = await connectRaw(s, other.agent);
  await Promise.all([a.next('schedule.full', (m) => !m.more), b.next('schedule.full', (m) => !m.more)]);
  const polled = s.api('POST', `/api/v1/monitors/${mine.ids[0]}/poll`);
  const req = await a.next('poll.now');
  const time = new Date().toISOString();
  // Another agent that somehow knows the request id cannot answer it.
  b.send({
    type: 'poll.result',
    request_id: req.request_id,
    time,
    attempts: 1,
    failure: { class: 'auth', message: 'forged' },
  });
  await new Promise((r) => setTimeout(r, 200));
  a.send({ type: 'poll.result', request_id: req.request_id, time, attempts: 1, metrics });
  const r = await polled;
  assert.deepEqual([r.status, r.body.ok, r.body.monitor_id], [200, true, mine.ids[0]]);
  a.close();
  b.close();
});

test("GET /agents/:id shows the last health report's offline and spool facts, including the exact ranges a full spool evicted", async () => {
  const { agent, ids } = await site('evicted', 1);
  const a = await connectRaw(s, agent);
  const full = await a.next('schedule.full', (m) => !m.more);
  const ranges = [{ monitor_id: ids[0]!, from: '2026-11-20T10:00:00.000Z', to: '2026-11-20T10:09:00.000Z', count: 10 }];
  a.send({
    type: 'heartbeat',
    sent_at: Date.now(),
    health: {
      spool_backlog: 42,
      jobs_in_flight: 0,
      job_lateness_ms: 0,
      errors: {},
      schedule_revision: full.revision,
      monitors_assigned: 1,
      offline_since: null,
      polls_offline: 120,
      polling_paused: false,
      spool_oldest_age_ms: 3600_000,
      spool_evicted: { records: 10, ranges },
    },
  });
  await waitFor(async () => (await s.api('GET', `/api/v1/agents/${agent.agent_id}`)).body.spool_evicted !== null);
  const shown = (await s.api('GET', `/api/v1/agents/${agent.agent_id}`)).body;
  assert.deepEqual(shown.spool_evicted, { records: 10, ranges, ranges_omitted: 0 });
  assert.deepEqual(shown.offline, {
    offline_since: null,
    polls_offline: 120,
    polling_paused: false,
    spool_backlog: 42,
    spool_oldest_age_ms: 3600_000,
  });
  assert.equal(shown.schedule.agent_revision, full.revision);
  a.close();
});

test("the first health report of a new session is shown at once, even right after the previous session's", async () => {
  const { agent } = await site('health-reconnect', 0);
  const health = (backlog: number) => ({
    type: 'heartbeat',
    sent_at: Date.now(),
    health: { spool_backlog: backlog, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} },
  });
  let a = await connectRaw(s, agent);
  a.send(health(1));
  await waitFor(async () => (await s.api('GET', `/api/v1/agents/${agent.agent_id}`)).body.health?.spool_backlog === 1);
  a.close();
  await a.closed;
  await waitFor(async () => !(await s.api('GET', `/api/v1/agents/${agent.agent_id}`)).body.online);
  a = await connectRaw(s, agent);
  a.send(health(2));
  // Within heartbeat_ms / 2 of the first write: the per-agent throttle must not carry over.
  await waitFor(
    async () => (await s.api('GET', `/api/v1/agents/${agent.agent_id}`)).body.health?.spool_backlog === 2,
    450,
  );
  a.close();
});

test('revisions never go backwards across a server restart', async () => {
  const { agent } = await site('restart', 1);
  let a = await connectRaw(s, agent);
  const before = (await a.next('schedule.full', (m) => !m.more)).revision;
  a.close();
  await s.restart();
  a = await connectRaw(s, agent);
  const after = (await a.next('schedule.full', (m) => !m.more)).revision;
  assert.ok(after > before, `${after} > ${before}`);
  a.close();
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
