import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { forEachBackend, startTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { loadConfig, parseConfig } from '../../../server/config.ts';
import { createLog } from '../../../server/log.ts';
import { startServer, type RunningServer } from '../../../server/server.ts';
import { seedMonitors } from './seed-monitors.ts';
import { httpsRequest } from '../../helpers/server.ts';

/** Starts the real server on `db` with these metrics settings (a restart is stop + start again). */
async function start(
  db: TestDatabase,
  dataDir: string,
  secrets: Record<string, string>,
  metrics: Record<string, unknown> = {},
): Promise<RunningServer> {
  const cfg = parseConfig({
    data_dir: dataDir,
    server: { host: '127.0.0.1', port: 0 },
    database: { url: db.url, pool_max: 4 },
    auth: { username: 'admin', password: 'storage-test-password', jwt_secret: secrets.jwt },
    master_key: secrets.master,
    log: { level: 'silent' },
    metrics: { latest_cache_ms: 0, ...metrics },
  });
  return startServer(cfg, { log: createLog('silent') });
}

forEachBackend((backend) => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let dataDir: string;
  const secrets = { jwt: randomBytes(32).toString('hex'), master: randomBytes(32).toString('base64') };
  before(async () => {
    db = await startTestDatabase({ backend });
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    dataDir = mkdtempSync('/tmp/nmslite-storage-test-');
  });
  after(async () => {
    await pool?.end();
    await db?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const jobs = async () =>
    (
      await pool.query(
        `SELECT job_id, hypertable_name AS rel, proc_name AS proc, config FROM timescaledb_information.jobs
        WHERE hypertable_name IN ('metrics', 'metrics_5m', 'metrics_1h') ORDER BY job_id`,
      )
    ).rows;

  if (backend === 'timescaledb') {
    test('after start and after a restart the aggregates exist with their policies: no duplicate jobs, the same job ids', async () => {
      let s = await start(db, dataDir, secrets);
      assert.equal(s.storageMode, 'timescaledb');
      const first = await jobs();
      await s.stop();
      const aggs = await pool.query(
        'SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY 1',
      );
      assert.deepEqual(aggs.rows, [
        { view_name: 'metrics_1h', materialized_only: false },
        { view_name: 'metrics_5m', materialized_only: false },
      ]);
      assert.deepEqual(
        first.map((j) => `${j.rel} ${j.proc}`).sort(),
        [
          'metrics policy_compression',
          'metrics_1h policy_compression',
          'metrics_1h policy_refresh_continuous_aggregate',
          'metrics_5m policy_compression',
          'metrics_5m policy_refresh_continuous_aggregate',
        ],
        'defaults: raw kept forever, aggregates kept forever, all compressed',
      );
      s = await start(db, dataDir, secrets);
      await s.stop();
      s = await start(db, dataDir, secrets);
      await s.stop();
      assert.deepEqual(await jobs(), first, 'two restarts later: the same jobs, ids and configs');
    });

    test('a changed retention or chunk setting is applied on the next start', async () => {
      const before = await jobs();
      const s = await start(db, dataDir, secrets, {
        retention_days: 45,
        compress_after_days: 3,
        chunk_interval_h: 12,
        aggregate_5m_retention_days: 400,
        aggregate_1h_retention_days: 2000,
        aggregate_compress_after_days: 60,
      });
      await s.stop();
      const after = await jobs();
      const find = (list: typeof before, rel: string, proc: string) =>
        list.find((j) => j.rel === rel && j.proc === proc);
      assert.equal(find(after, 'metrics', 'policy_retention')?.config.drop_after, '45 days');
      assert.equal(find(after, 'metrics', 'policy_compression')?.config.compress_after, '3 days');
      assert.equal(
        find(after, 'metrics', 'policy_compression')?.job_id,
        find(before, 'metrics', 'policy_compression')?.job_id,
        'altered, not replaced',
      );
      assert.equal(find(after, 'metrics_5m', 'policy_retention')?.config.drop_after, '400 days');
      assert.equal(find(after, 'metrics_1h', 'policy_retention')?.config.drop_after, '2000 days');
      assert.equal(find(after, 'metrics_5m', 'policy_compression')?.config.compress_after, '60 days');
      assert.equal(find(after, 'metrics_5m', 'policy_refresh_continuous_aggregate')?.config.start_offset, '45 days');
      assert.equal(find(after, 'metrics_1h', 'policy_refresh_continuous_aggregate')?.config.start_offset, '400 days');
      const dim = await pool.query(
        "SELECT extract(epoch FROM time_interval)::float8 / 3600 AS h FROM timescaledb_information.dimensions WHERE hypertable_name = 'metrics'",
      );
      assert.equal(Number(dim.rows[0].h), 12);
      // Chunks created from now on use it.
      await pool.query('TRUNCATE metrics');
      const { monitorIds } = await seedMonitors(pool, 1);
      await pool.query("INSERT INTO metrics (time, monitor_id, cpu_percent) VALUES ('2026-01-01T01:00:00Z', $1, 1)", [
        monitorIds[0],
      ]);
      const c = await pool.query(
        "SELECT extract(epoch FROM range_end - range_start)::float8 / 3600 AS h FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics'",
      );
      assert.deepEqual(
        c.rows.map((r) => Number(r.h)),
        [12],
      );
    });
  }

  test(`deleting a monitor removes its rows from the table${backend === 'timescaledb' ? ', compressed chunks and both aggregates' : ''}; other monitors keep theirs`, async () => {
    const s = await start(db, dataDir, secrets);
    try {
      const { monitorIds } = await seedMonitors(pool, 2);
      const [gone, kept] = [monitorIds[0]!, monitorIds[1]!];
      await pool.query(
        `INSERT INTO metrics (time, monitor_id, cpu_percent) SELECT TIMESTAMPTZ '2026-10-01T00:00:00Z' + make_interval(mins => i * 10), id, i % 90
           FROM generate_series(0, 3 * 144 - 1) i, unnest($1::int[]) id`,
        [[gone, kept]],
      );
      const rels = backend === 'timescaledb' ? ['metrics', 'metrics_5m', 'metrics_1h'] : ['metrics'];
      if (backend === 'timescaledb') {
        await pool.query("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
        await pool.query("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
        await pool.query(
          "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('metrics', older_than => TIMESTAMPTZ '2026-10-03T00:00:00Z') c",
        );
        await pool.query("SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('metrics_5m') c");
      }
      const count = async (rel: string, id: number) =>
        (await pool.query(`SELECT count(*)::int AS n FROM ${rel} WHERE monitor_id = $1`, [id])).rows[0].n;
      for (const rel of rels) assert.ok((await count(rel, gone)) > 0, `${rel} holds the monitor's rows before`);
      // Through the API, as an operator deletes it.
      const login = await httpsRequest(
        'POST',
        `${s.url}/api/v1/auth/login`,
        { 'content-type': 'application/json' },
        JSON.stringify({ username: 'admin', password: 'storage-test-password' }),
      );
      assert.equal(login.status, 200);
      const del = await httpsRequest('DELETE', `${s.url}/api/v1/monitors/${gone}`, {
        authorization: `Bearer ${login.body.token}`,
      });
      assert.equal(del.status, 204);
      for (const rel of rels) {
        assert.equal(await count(rel, gone), 0, `${rel}: none of the deleted monitor's rows left`);
        assert.ok((await count(rel, kept)) > 0, `${rel}: the other monitor's rows stay`);
      }
      if (backend === 'timescaledb') {
        // And a later refresh does not bring them back.
        await pool.query("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
        await pool.query("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
        for (const rel of rels) assert.equal(await count(rel, gone), 0, `${rel}: still none after a refresh`);
        assert.equal(await count('metrics_1h', kept), 3 * 24);
      }
    } finally {
      await s.stop();
    }
  });
});

test('storage settings are validated: chunk interval from the environment, each aggregate kept at least as long as the layer below', () => {
  const cfg = parseConfig(
    loadConfig([], { NMSLITE_METRICS_CHUNK_INTERVAL_H: '6', NMSLITE_METRICS_AGGREGATE_5M_RETENTION_DAYS: '0' }),
  );
  assert.equal(cfg.metrics.chunk_interval_h, 6);
  assert.equal(parseConfig({}).metrics.chunk_interval_h, 24, 'one day by default');
  assert.throws(() => parseConfig({ metrics: { chunk_interval_h: 0 } }), /chunk_interval_h/);
  assert.throws(
    () => parseConfig({ metrics: { retention_days: 30, aggregate_5m_retention_days: 10 } }),
    /aggregate_5m_retention_days: must be 0 \(forever\) or at least retention_days \(30\)/,
  );
  assert.throws(
    () => parseConfig({ metrics: { aggregate_1h_retention_days: 400 } }),
    /aggregate_1h_retention_days/,
    'the 5-minute layer keeps forever: the 1-hour one must too',
  );
  const ok = parseConfig({
    metrics: { retention_days: 30, aggregate_5m_retention_days: 365, aggregate_1h_retention_days: 0 },
  }).metrics;
  assert.deepEqual([ok.retention_days, ok.aggregate_5m_retention_days, ok.aggregate_1h_retention_days], [30, 365, 0]);
});
