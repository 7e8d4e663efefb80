import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentStatus, startAgentProcess, waitFor } from '../helpers/agent-process.ts';
import {
  createSite,
  deadlockLines,
  edgeEnv,
  waitNoHoles,
  startSteadySite,
  duplicateRows,
  iso,
  killChild,
  missingSlots,
  offSlot,
  sleep,
  storedTimes,
  type Site,
} from './edge-fixtures.ts';

// Issue 11, Tests: "Agent restart while cut off". The agent persists its assignment set, so an
// agent restarted while the server is still unreachable keeps polling from what it has on disk.
const HOSTS = 10;
const INTERVAL_S = 10;
const INTERVAL = INTERVAL_S * 1000;
/**
 * A poll that had started when the agent was killed is legitimately lost. A poll of a simulated host
 * takes well under a second here; this leaves a loaded machine room (and the spool's 50 ms flush).
 */
const POLL_MARGIN = 6000;

const env = edgeEnv({ hosts: HOSTS, bind: '127.92.0.1', password: 'Restart-Pass-1' });

test('an agent SIGKILLed and restarted while the server is down keeps polling from its persisted assignments; the rows arrive after the server returns', {
  timeout: 480_000,
}, async () => {
  const { s, sim, db } = env;
  const site: Site = await createSite(s, sim, { name: 'restart-site', auth: 'ntlm', interval: INTERVAL_S });
  const firstFull = await startSteadySite(env, site);

  const serverKilledAt = Date.now();
  await s.kill('SIGKILL');
  await sleep(2 * INTERVAL);
  const agentKilledAt = Date.now();
  await killChild(env.agent, 'SIGKILL');
  await sleep(INTERVAL);
  const agentStartedAt = Date.now();
  env.agent = startAgentProcess(site.home);
  // The restarted agent runs its saved schedule from the moment it logs having loaded it (it logs,
  // then starts the schedule, in one go): slots from then on are its to poll, however long tsx took
  // to start it on this machine. A fixed margin for the start raced on a loaded machine.
  const restarted = env.agent;
  await waitFor(
    'the restarted agent loaded its saved schedule',
    async () =>
      restarted.logs.some((l) => l.includes('loaded the saved schedule')) || restarted.child.exitCode !== null,
    120_000,
    100,
  );
  const agentUpAt = Date.now();
  await sleep(4 * INTERVAL);
  assert.equal(
    env.agent.child.exitCode,
    null,
    `the restarted agent runs without its server:\n${env.agent.logs.slice(-20).join('\n')}`,
  );
  // `nmslite-agent status` shows what the restarted agent runs on while it cannot reach its server.
  const st = await agentStatus(site.home, ['--json']);
  assert.equal(st.monitors_assigned, HOSTS, JSON.stringify(st));
  assert.ok(typeof st.schedule_revision === 'number', 'the persisted schedule revision');
  assert.ok(
    st.offline_since &&
      Date.parse(st.offline_since) <= agentKilledAt &&
      Date.parse(st.offline_since) >= serverKilledAt - 5000,
    `offline since the server died: ${st.offline_since}`,
  );
  assert.ok(st.polls_offline >= HOSTS * 2, `polls run offline: ${st.polls_offline}`);
  assert.ok(
    st.spool_backlog >= HOSTS * 2 && st.spool_oldest_age_ms > 0,
    `results waiting in the spool: ${st.spool_backlog}, oldest ${st.spool_oldest_age_ms} ms`,
  );
  assert.equal(st.polling_paused, false);
  const serverStartedAt = Date.now();
  await s.start();

  // The slots while an agent process ran: before the kill, and after the restarted one was up.
  const ran: [number, number][] = [
    [firstFull, agentKilledAt - POLL_MARGIN],
    [agentUpAt, serverStartedAt],
  ];
  const holes = async (): Promise<string[]> => {
    const now = await storedTimes(db, site.monitors);
    return site.monitors.flatMap((m) =>
      ran.flatMap(([from, to]) => missingSlots(m, INTERVAL, now.get(m)!, from, to).map((t) => `${m}@${iso(t)}`)),
    );
  };
  // The agent retries with backoff (up to 30 s) while the server is down, then replays its spool.
  await waitNoHoles('every slot polled while an agent ran stored', holes, 180_000);

  const stored = await storedTimes(db, site.monitors);
  assert.equal(await duplicateRows(db), 0, 'none twice');
  for (const m of site.monitors) {
    const times = stored.get(m)!;
    assert.deepEqual(offSlot(m, INTERVAL, times).map(iso), [], `monitor ${m}: every row at one of its slots`);
    const byRestarted = times.filter((t) => t >= agentStartedAt && t < serverStartedAt);
    assert.ok(
      byRestarted.length >= 3,
      `monitor ${m}: the restarted agent polled it ${byRestarted.length} times while the server was down`,
    );
    assert.ok(
      times.filter((t) => t >= serverKilledAt && t < agentKilledAt).length >= 1,
      `monitor ${m}: polled after the server died, before the agent was killed`,
    );
  }
  // The rows came from the agent after the server returned (nothing could store them before).
  const late = Number(
    (
      await db.query('SELECT count(*) AS n FROM metrics WHERE time >= $1 AND time < $2', [
        new Date(serverKilledAt),
        new Date(serverStartedAt),
      ])
    ).rows[0].n,
  );
  assert.ok(late >= HOSTS * 4, `${late} rows of the outage stored after the restart`);
  assert.deepEqual(deadlockLines(s), [], 'no deadlock in the server log');
});
