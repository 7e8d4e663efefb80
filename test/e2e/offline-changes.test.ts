import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSlot } from '../../shared/schedule.ts';
import { waitFor } from '../helpers/agent-process.ts';
import {
  createSite,
  deadlockLines,
  edgeEnv,
  waitNoHoles,
  startSteadySite,
  duplicateRows,
  iso,
  missingSlots,
  sleep,
  spooledResults,
  storedTimes,
  waitOnline,
  type Site,
} from './edge-fixtures.ts';

// Issue 11, Tests: "Changes while offline". The link is cut (the server stays up, the agent keeps
// polling what it last knew); meanwhile one monitor is deleted, one disabled and another's interval
// changed. After reconnect the deleted and disabled monitors' spooled results are acknowledged and
// dropped, never stored, and the changed monitor runs on its new interval's slots.
const HOSTS = 7;
const INTERVAL_S = 10;
const INTERVAL = INTERVAL_S * 1000;
const NEW_INTERVAL_S = 20;
const NEW_INTERVAL = NEW_INTERVAL_S * 1000;

const env = edgeEnv({ hosts: HOSTS, bind: '127.93.0.1', password: 'Offline-Pass-1', relay: true });

test('monitors deleted, disabled and re-timed while the agent is cut off: no row of the deleted or disabled one is stored after the change, the new interval applies after reconnect', {
  timeout: 420_000,
}, async () => {
  const { s, sim, db, relay } = env;
  const site: Site = await createSite(s, sim, {
    name: 'offline-site',
    auth: 'ntlm',
    interval: INTERVAL_S,
    serverUrl: `wss://127.0.0.1:${relay!.port}`,
  });
  const [deleted, disabled, retimed, ...unchanged] = site.monitors as [number, number, number, ...number[]];
  const firstFull = await startSteadySite(env, site);

  const cutAt = Date.now();
  await relay!.cut();
  await waitOnline(s, site.agentId, false, 30_000);
  await sleep(INTERVAL);
  const deletedAt = Date.now();
  assert.equal((await s.api('DELETE', `/api/v1/monitors/${deleted}`)).status, 204);
  const disabledAt = Date.now();
  assert.equal((await s.api('PUT', `/api/v1/monitors/${disabled}`, { enabled: false })).status, 200);
  const put = await s.api('PUT', `/api/v1/monitors/${retimed}`, { polling_interval: NEW_INTERVAL_S });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal(put.body.polling_interval, NEW_INTERVAL_S);
  // The agent does not know yet: it goes on polling the deleted monitor and spools the results.
  await waitFor(
    'the deleted and the disabled monitor polled after the change, spooled on the agent',
    async () => {
      const spooled = spooledResults(`${site.home}/spool`);
      return (
        spooled.filter((r) => r.monitor_id === deleted && Date.parse(r.time) > deletedAt).length >= 2 &&
        spooled.filter((r) => r.monitor_id === disabled && Date.parse(r.time) > disabledAt).length >= 2
      );
    },
    60_000,
    1000,
  );
  assert.equal(env.agent!.child.exitCode, null);

  relay!.restore();
  await waitOnline(s, site.agentId, true, 60_000);
  const onlineAt = Date.now();
  // The new schedule is applied on connect; a poll already running on the old one may still land.
  const newRulesFrom = onlineAt + 2000;
  const end = onlineAt + 3 * NEW_INTERVAL + 2000;
  await sleep(end - Date.now());
  const holes = async (): Promise<string[]> => {
    const now = await storedTimes(db, unchanged);
    return unchanged.flatMap((m) =>
      missingSlots(m, INTERVAL, now.get(m)!, firstFull, end).map((t) => `${m}@${iso(t)}`),
    );
  };
  await waitNoHoles('every slot of the unchanged monitors stored, through the cut', holes, 90_000);
  await waitFor('the spool drained', async () => spooledResults(`${site.home}/spool`).length === 0, 60_000, 1000);

  const deletedRows = Number(
    (await db.query('SELECT count(*) AS n FROM metrics WHERE monitor_id = $1', [deleted])).rows[0].n,
  );
  assert.equal(
    deletedRows,
    0,
    'no row of the deleted monitor is stored (its rows went with it, its offline results were dropped)',
  );
  const afterDeletion = Number(
    (
      await db.query('SELECT count(*) AS n FROM metrics WHERE monitor_id = $1 AND time > $2', [
        deleted,
        new Date(deletedAt),
      ])
    ).rows[0].n,
  );
  assert.equal(afterDeletion, 0);

  const disabledTimes = (await storedTimes(db, [disabled])).get(disabled)!;
  assert.deepEqual(
    disabledTimes.filter((t) => t > disabledAt).map(iso),
    [],
    'no row of the disabled monitor after it was disabled',
  );
  assert.ok(disabledTimes.filter((t) => t < cutAt).length >= 2, 'its rows from before stay');

  const times = (await storedTimes(db, [retimed])).get(retimed)!;
  const onNew = times.filter((t) => t >= newRulesFrom);
  assert.ok(onNew.length >= 2, `the re-timed monitor polled ${onNew.length} times since the reconnect`);
  assert.deepEqual(
    onNew.filter((t) => !isSlot(retimed, NEW_INTERVAL, t)).map(iso),
    [],
    `every poll since the reconnect on a ${NEW_INTERVAL_S} s slot`,
  );
  assert.deepEqual(
    missingSlots(retimed, NEW_INTERVAL, times, newRulesFrom, end - 2000).map(iso),
    [],
    `every ${NEW_INTERVAL_S} s slot since the reconnect polled`,
  );
  const beforeCut = times.filter((t) => t >= firstFull && t < cutAt);
  assert.ok(
    beforeCut.every((t) => isSlot(retimed, INTERVAL, t)),
    'before the change it ran on its old slots',
  );

  const health = (await s.api('GET', `/api/v1/agents/${site.agentId}`)).body.health;
  assert.equal(
    health?.monitors_assigned,
    HOSTS - 2,
    `the agent holds the new assignment set (${JSON.stringify(health)})`,
  );
  assert.equal(await duplicateRows(db), 0);
  assert.deepEqual(deadlockLines(s), [], 'no deadlock in the server log');
});
