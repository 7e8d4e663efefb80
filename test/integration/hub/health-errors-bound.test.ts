import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { boundHealthErrors, CloseCode, MAX_HEALTH_ERROR_KEYS } from '../../../shared/protocol/index.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { connectRaw, enrollRaw } from './raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

const closedWithin = (a: { closed: Promise<{ code: number; reason: string }> }, ms = 5000) =>
  Promise.race([
    a.closed,
    new Promise<{ code: number; reason: string }>((res) =>
      setTimeout(() => res({ code: -1, reason: 'still open' }), ms),
    ),
  ]);
const health = (errors: Record<string, number>) => ({
  spool_backlog: 0,
  jobs_in_flight: 0,
  job_lateness_ms: 0,
  errors,
});

test("an agent's health report with an unbounded errors map is refused and never stored", async () => {
  const id = await enrollRaw(s, 'errors-flood');
  const agent = await connectRaw(s, id);
  agent.send({ type: 'heartbeat', sent_at: Date.now(), health: health({ timeout: 3, spool_dropped: 0 }) });
  await agent.next('heartbeat.ack');
  for (let i = 0; i < 50; i++) {
    const r = await s.api('GET', `/api/v1/agents/${id.agent_id}`);
    if (r.body.health?.errors?.timeout === 3) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.deepEqual(
    (await s.api('GET', `/api/v1/agents/${id.agent_id}`)).body.health?.errors,
    { timeout: 3, spool_dropped: 0 },
    'a normal report is stored',
  );

  const flood = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]));
  agent.send({ type: 'heartbeat', sent_at: Date.now(), health: health(flood) });
  const closed = await closedWithin(agent);
  assert.equal(closed.code, CloseCode.protocolError);
  assert.match(closed.reason, /errors/);
  await new Promise((res) => setTimeout(res, 200));
  const stored = (await s.api('GET', `/api/v1/agents/${id.agent_id}`)).body.health;
  assert.ok(Object.keys(stored?.errors ?? {}).length <= MAX_HEALTH_ERROR_KEYS, 'the flood was not stored');

  const id2 = await enrollRaw(s, 'errors-long-key');
  const other = await connectRaw(s, id2);
  other.send({ type: 'heartbeat', sent_at: Date.now(), health: health({ ['x'.repeat(100_000)]: 1 }) });
  assert.equal((await closedWithin(other)).code, CloseCode.protocolError, 'a 100 KB key is refused too');
});

test('the agent reports only counters the schema accepts', () => {
  const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`class_${i}`, i]));
  const out = boundHealthErrors({ timeout: 2, 'Bad Key': 1, negative: -1, spool_dropped: 0, ...many });
  assert.equal(Object.keys(out).length, MAX_HEALTH_ERROR_KEYS);
  assert.equal(out.timeout, 2);
  assert.equal(out.spool_dropped, 0);
  assert.ok(!('Bad Key' in out) && !('negative' in out));
});
