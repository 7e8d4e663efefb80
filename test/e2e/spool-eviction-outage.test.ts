import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSlot } from '../../shared/schedule.ts';
import { agentStatus, waitFor } from '../helpers/agent-process.ts';
import {
  createSite,
  deadlockLines,
  edgeEnv,
  startSteadySite,
  duplicateRows,
  iso,
  killChild,
  missingSlots,
  slotsBetween,
  storedTimes,
  waitOnline,
  type Site,
} from './edge-fixtures.ts';

// Issue 11, Tests: "Long outage". A 1 MB spool (the smallest cap the agent takes) fills during a
// cut link; the oldest records go first; the agent's status and health and GET /agents/:id report
// the lost ranges exactly: per monitor, the ranges are the slots the store is missing, no more, no less.
// 10 s is the shortest interval (a database constraint), so four monitors per host fill the spool
// (about 2,300 results) in about two minutes.
const HOSTS = 50;
const PER_HOST = Number(process.env.NMSLITE_E2E_EVICT_PER_HOST ?? 4);
const MONITORS = HOSTS * PER_HOST;
const INTERVAL_S = 10;
const INTERVAL = INTERVAL_S * 1000;
const MAX_OUTAGE_MS = 360_000;

const env = edgeEnv({ hosts: HOSTS, bind: '127.94.0.1', password: 'Evict-Pass-1', relay: true });

interface Range {
  monitor_id: number;
  from: string;
  to: string;
  count: number;
}
/** The spool_evicted object of a status or health report. */
const evictedOf = (o: any): { records: number; ranges: Range[]; ranges_omitted?: number } | undefined =>
  o?.spool_evicted ?? o?.spool?.evicted ?? o?.health?.spool_evicted;
const byMonitorThenFrom = (a: Range, b: Range) =>
  a.monitor_id - b.monitor_id || Date.parse(a.from) - Date.parse(b.from);
const normalise = (rs: Range[]) =>
  rs
    .map((r) => ({ monitor_id: r.monitor_id, from: Date.parse(r.from), to: Date.parse(r.to), count: r.count }))
    .sort((a, b) => a.monitor_id - b.monitor_id || a.from - b.from);

test('a full spool evicts its oldest results first and the agent and the API report exactly the ranges the store is missing', {
  timeout: MAX_OUTAGE_MS + 360_000,
}, async (t) => {
  const { s, sim, db, relay } = env;
  const site: Site = await createSite(s, sim, {
    name: 'evict-site',
    auth: 'ntlm',
    interval: INTERVAL_S,
    monitorsPerHost: PER_HOST,
    serverUrl: `wss://127.0.0.1:${relay!.port}`,
  });
  assert.equal(site.monitors.length, MONITORS);
  const firstFull = await startSteadySite(env, site, {
    rows: 3,
    extra: ['--spool-cap-mb', '1', '--log-level', 'info'],
  });

  const cutAt = Date.now();
  await relay!.cut();
  // Fill the spool past its cap, then a little more: records are evicted while the outage goes on.
  let evictedSeen = 0;
  await waitFor(
    'the agent evicting spooled results',
    async () => {
      const st = await agentStatus(site.home, ['--json']);
      evictedSeen = evictedOf(st)?.records ?? 0;
      return evictedSeen >= MONITORS * 2;
    },
    MAX_OUTAGE_MS,
    5000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message} (evicted so far: ${evictedSeen})`);
  });
  const offlineStatus = await agentStatus(site.home, ['--json']);
  assert.ok(
    offlineStatus.spool?.bytes === undefined || offlineStatus.spool.bytes <= 1024 * 1024,
    `the spool stays within its cap: ${JSON.stringify(offlineStatus.spool)}`,
  );
  assert.equal(env.agent!.child.exitCode, null, 'the agent runs on with a full spool');

  relay!.restore();
  const reconnectAt = Date.now();
  await waitOnline(s, site.agentId, true, 60_000);
  const health = await waitFor(
    'the backlog replayed and the evictions reported in GET /agents/:id',
    async () => {
      const h = (await s.api('GET', `/api/v1/agents/${site.agentId}`)).body?.health;
      return h && h.spool_backlog === 0 && evictedOf(h)?.records ? h : undefined;
    },
    120_000,
    1000,
  );
  // Stop the agent so the picture is final; its persisted evictions stay readable by `status`.
  await killChild(env.agent, 'SIGTERM');
  env.agent = undefined;
  const end = reconnectAt;

  const apiEvicted = evictedOf(health)!;
  const statusEvicted = evictedOf(await agentStatus(site.home, ['--json']))!;
  assert.ok(apiEvicted && statusEvicted, 'both report the evictions');
  assert.equal(apiEvicted.ranges_omitted ?? 0, 0, 'every range listed');
  assert.deepEqual(
    normalise(statusEvicted.ranges),
    normalise(apiEvicted.ranges),
    'the agent status and the API report the same ranges',
  );
  assert.equal(statusEvicted.records, apiEvicted.records);
  assert.equal(
    apiEvicted.records,
    apiEvicted.ranges.reduce((n, r) => n + r.count, 0),
    'records = the sum of the ranges',
  );
  assert.deepEqual(
    Object.entries(health.errors ?? {}).filter(([, n]) => Number(n) > 0),
    [],
    'no poll failed and nothing was dropped unspooled (so every slot missing from the store was evicted)',
  );

  const stored = await storedTimes(db, site.monitors);
  assert.equal(await duplicateRows(db), 0);
  const ranges = [...apiEvicted.ranges].sort(byMonitorThenFrom);
  let lostTotal = 0;
  let overReported = 0;
  for (const m of site.monitors) {
    const mine = ranges.filter((r) => r.monitor_id === m);
    const lost: number[] = [];
    for (const r of mine) {
      const from = Date.parse(r.from);
      const to = Date.parse(r.to);
      assert.ok(
        isSlot(m, INTERVAL, from) && isSlot(m, INTERVAL, to),
        `monitor ${m}: range ${r.from}..${r.to} on its slots`,
      );
      const slots = slotsBetween(m, INTERVAL, from, to + 1);
      assert.equal(slots.length, r.count, `monitor ${m}: range ${r.from}..${r.to} counts every slot in it`);
      lost.push(...slots);
    }
    const times = stored.get(m)!;
    const missing = missingSlots(m, INTERVAL, times, firstFull, end);
    const reported = new Set(lost);
    assert.deepEqual(
      missing.filter((t) => !reported.has(t)).map(iso),
      [],
      `monitor ${m}: every slot the store is missing is in a reported range`,
    );
    // A record evicted while in flight is reported lost, though the server may store it: the replay
    // after the outage sends the oldest records first, the very ones a still full spool evicts next.
    // Those are the newest of the lost, and at most the link's window (4 batches of 500) in all.
    const lastMissing = Math.max(...missing);
    const storedAnyway = lost.filter((t) => !missing.includes(t));
    assert.ok(
      storedAnyway.every((t) => t > lastMissing),
      `monitor ${m}: reported but stored only after every missing slot (${storedAnyway.map(iso).join(', ')})`,
    );
    overReported += storedAnyway.length;
    assert.ok(missing.length > 0, `monitor ${m}: lost some polls to the cap`);
    // Oldest first: what was lost is the start of the outage; everything after it is stored.
    assert.ok(
      lost[0]! <= cutAt + 3 * INTERVAL && lost[0] === missing[0],
      `monitor ${m}: the loss begins at the cut (${iso(lost[0]!)}, cut at ${iso(cutAt)})`,
    );
    const keptDuringOutage = times.filter((t) => t >= cutAt && t < reconnectAt);
    assert.ok(
      keptDuringOutage.length > 0 && keptDuringOutage[0]! > lastMissing,
      `monitor ${m}: every kept poll of the outage is newer than every evicted one`,
    );
    lostTotal += lost.length;
  }
  assert.equal(lostTotal, apiEvicted.records, 'no range names a monitor of another site');
  assert.ok(overReported <= 4 * 500, `reported lost but stored: ${overReported}, within the link's window`);
  assert.deepEqual(deadlockLines(s), [], 'no deadlock in the server log');
  t.diagnostic(
    `outage ${Math.round((reconnectAt - cutAt) / 1000)} s: ${apiEvicted.records} results evicted in ${apiEvicted.ranges.length} ranges over ${MONITORS} monitors`,
  );
});
