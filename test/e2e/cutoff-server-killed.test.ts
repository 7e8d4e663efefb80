import { test } from 'node:test';
import assert from 'node:assert/strict';
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
  offSlot,
  sleep,
  slotsBetween,
  storedTimes,
  type Site,
} from './edge-fixtures.ts';

// Issue 11, Tests: "Cut-off". The agent holds the site's schedule, so a dead server is no hole in
// the graphs: every poll of the outage is run on the env.agent, spooled, and stored after the restart.
const HOSTS = 50;
const INTERVAL_S = 10;
const INTERVAL = INTERVAL_S * 1000;
const OUTAGE_MS = Number(process.env.NMSLITE_E2E_OUTAGE_MS ?? 180_000);

const env = edgeEnv({ hosts: HOSTS, bind: '127.91.0.1', password: 'Cutoff-Pass-1' });

test(`${HOSTS} hosts at ${INTERVAL_S} s: a server SIGKILLed for ${OUTAGE_MS / 1000} s loses no poll — every slot of the outage is stored once, at its aligned time`, {
  timeout: OUTAGE_MS + 480_000,
}, async (t) => {
  const { s, sim, db } = env;
  const site: Site = await createSite(s, sim, { name: 'cutoff-site', auth: 'ntlm', interval: INTERVAL_S });
  // Steady state: every monitor has stored two polls, so the schedule runs on the agent.
  const firstFull = await startSteadySite(env, site, { extra: ['--log-level', 'info'] });

  const killAt = Date.now();
  await s.kill('SIGKILL');
  await sleep(OUTAGE_MS);
  const restartAt = Date.now();
  await s.start();
  assert.equal(env.agent!.child.exitCode, null, 'the agent kept running through the outage');

  const expected = new Map(site.monitors.map((m) => [m, slotsBetween(m, INTERVAL, killAt, restartAt)]));
  const expectedTotal = [...expected.values()].reduce((n, v) => n + v.length, 0);
  // hosts × window / interval, give or take the one slot each monitor's phase puts at an edge.
  const nominal = (HOSTS * (restartAt - killAt)) / INTERVAL;
  assert.ok(Math.abs(expectedTotal - nominal) <= HOSTS, `${expectedTotal} slots for a nominal ${nominal}`);

  const inWindow = async (): Promise<number> =>
    Number(
      (
        await db.query('SELECT count(*) AS n FROM metrics WHERE monitor_id = ANY($1) AND time >= $2 AND time < $3', [
          site.monitors,
          new Date(killAt),
          new Date(restartAt),
        ])
      ).rows[0].n,
    );
  await waitFor(
    `the ${expectedTotal} polls of the outage stored`,
    async () => (await inWindow()) >= expectedTotal,
    180_000,
    1000,
  ).catch(async (err) => {
    throw new Error(`${(err as Error).message}: ${await inWindow()} of ${expectedTotal} stored`);
  });
  // Polling goes on after the restart: two more slots per monitor, then the whole picture is final.
  const settle = Date.now() + 2 * INTERVAL;
  const holes = async (): Promise<string[]> => {
    const now = await storedTimes(db, site.monitors);
    return site.monitors.flatMap((m) =>
      missingSlots(m, INTERVAL, now.get(m)!, firstFull, settle).map((t) => `${m}@${iso(t)}`),
    );
  };
  await sleep(Math.max(0, settle - Date.now()));
  await waitNoHoles('every slot from the steady state to two slots past the restart stored', holes, 120_000);

  const stored = await storedTimes(db, site.monitors);
  assert.equal(await inWindow(), expectedTotal, 'exactly one row per scheduled poll of the outage');
  assert.equal(await duplicateRows(db), 0, 'none twice');
  for (const m of site.monitors) {
    const times = stored.get(m)!;
    assert.deepEqual(
      offSlot(m, INTERVAL, times).map(iso),
      [],
      `monitor ${m}: every row at one of its ${INTERVAL_S} s slots`,
    );
    const window = times.filter((t) => t >= killAt && t < restartAt);
    assert.deepEqual(window.map(iso), expected.get(m)!.map(iso), `monitor ${m}: the outage's slots, each stored`);
    // No hole at the kill or at the restart either: the whole run is continuous.
    assert.deepEqual(
      missingSlots(m, INTERVAL, times, firstFull, settle).map(iso),
      [],
      `monitor ${m}: no slot missing from ${iso(firstFull)} to ${iso(settle)}`,
    );
  }
  t.diagnostic(
    `server down ${Math.round((restartAt - killAt) / 1000)} s: ${expectedTotal} polls scheduled in the outage (nominal ${nominal.toFixed(1)}), all stored`,
  );
  const a = (await s.api('GET', `/api/v1/agents/${site.agentId}`)).body;
  assert.equal(a.online, true);
  assert.deepEqual(deadlockLines(s), [], 'no deadlock in the server log');
});
