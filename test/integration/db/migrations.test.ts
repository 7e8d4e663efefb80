import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { forEachBackend, startTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { runMigrations } from '../../../server/db/migrate.ts';

forEachBackend((backend) => {
  const mode = backend === 'timescaledb' ? 'timescaledb' : 'plain';
  let db: TestDatabase;
  let client: pg.Client;
  before(async () => {
    db = await startTestDatabase({ backend });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await db?.stop();
  });

  test(`migrations create every table, seed the built-in plugins and report ${mode} storage`, async () => {
    const t = await client.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    );
    assert.deepEqual(
      t.rows.map((r) => r.table_name),
      ['agents', 'audit_log', 'credential_profiles', 'devices', 'discovery_profiles', 'metrics', 'monitors', 'plugins'],
    );
    const p = await client.query('SELECT name, type, builtin FROM plugins ORDER BY name');
    assert.deepEqual(p.rows, [
      { name: 'windows-powershell', type: 'windows-powershell', builtin: true },
      { name: 'windows-wmi', type: 'windows-wmi', builtin: true },
    ]);
    assert.equal((await client.query('SELECT nmslite_storage_mode() AS m')).rows[0].m, mode);
  });

  test(
    backend === 'timescaledb'
      ? 'metrics is a hypertable with 5-minute and 1-hour real-time continuous aggregates, the 1-hour one built on the 5-minute one'
      : 'no aggregates on plain PostgreSQL',
    async () => {
      const views = await client.query("SELECT matviewname FROM pg_matviews WHERE schemaname = 'public' ORDER BY 1");
      if (backend === 'plain') {
        assert.deepEqual(views.rows, []);
        return;
      }
      const h = await client.query(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'",
      );
      assert.deepEqual(
        h.rows.map((r) => r.hypertable_name),
        ['metrics'],
      );
      const c = await client.query(
        'SELECT view_name, hypertable_name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY view_name',
      );
      assert.deepEqual(
        c.rows.map((r) => [r.view_name, r.materialized_only]),
        [
          ['metrics_1h', false],
          ['metrics_5m', false],
        ],
      );
      assert.equal(c.rows.find((r) => r.view_name === 'metrics_5m').hypertable_name, 'metrics');
      assert.match(
        c.rows.find((r) => r.view_name === 'metrics_1h').hypertable_name,
        /^_materialized_hypertable_/,
        'hierarchical: built on the 5-minute aggregate',
      );
      const cols = await client.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'metrics_5m' ORDER BY ordinal_position",
      );
      for (const col of [
        'cpu_sum',
        'cpu_n',
        'cpu_min',
        'cpu_max',
        'memory_used_min',
        'memory_used_max',
        'disk_used_max',
        'net_sent_max',
        'net_recv_min',
        'net_util_max',
        'packets_sent_max',
        'net_errors_max',
        'net_dropped_max',
      ]) {
        assert.ok(
          cols.rows.some((r) => r.column_name === col),
          `metrics_5m has ${col}`,
        );
      }
    },
  );

  test('running the migrations again changes nothing', async () => {
    assert.equal(await runMigrations(db.url), mode);
    assert.equal((await client.query('SELECT count(*)::int AS n FROM plugins')).rows[0].n, 2);
    if (mode === 'timescaledb')
      assert.equal(
        (await client.query('SELECT count(*)::int AS n FROM timescaledb_information.continuous_aggregates')).rows[0].n,
        2,
      );
  });

  test('the same private address may exist once per agent', async () => {
    const a = await client.query("INSERT INTO agents (name) VALUES ('site-a'), ('site-b') RETURNING id");
    const [x, y] = a.rows.map((r) => r.id);
    await client.query('INSERT INTO devices (agent_id, ip) VALUES ($1, $3), ($2, $3)', [x, y, '10.0.0.5']);
    await assert.rejects(
      client.query('INSERT INTO devices (agent_id, ip) VALUES ($1, $2)', [x, '10.0.0.5']),
      /devices_agent_ip_key/,
    );
  });
});
