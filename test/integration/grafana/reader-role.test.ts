import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { parseConfig, loadConfig } from '../../../server/config.ts';
import { GRAFANA_READER_ROLE } from '../../../server/db/grafana-reader.ts';
import { runMigrations } from '../../../server/db/migrate.ts';
import { forEachBackend, startTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { startTestServer } from '../../helpers/server.ts';
import { connectAsReader, enableTestReader, readerUrl, TEST_READER_PASSWORD } from './reader.ts';

forEachBackend((backend) => {
  let db: TestDatabase;
  let admin: pg.Client;
  let reader: pg.Client;
  before(async () => {
    db = await startTestDatabase({ backend });
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    const a = await admin.query(
      "INSERT INTO agents (name, status, enrollment_token_hash, sign_public_key) VALUES ('site-a', 'active', 'hash-of-a-token', 'key') RETURNING id",
    );
    const d = await admin.query(
      "INSERT INTO devices (agent_id, ip, status) VALUES ($1, '10.0.0.5', 'active') RETURNING id",
      [a.rows[0].id],
    );
    const c = await admin.query(
      "INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ('p', 'winrm_ntlm', 'svc', 'sealed-secret', 'k1', 5985) RETURNING id",
    );
    const m = await admin.query(
      "INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval) SELECT $1, $2, id, 60 FROM plugins WHERE name = 'windows-wmi' RETURNING id",
      [d.rows[0].id, c.rows[0].id],
    );
    await admin.query(
      "INSERT INTO metrics (time, monitor_id, cpu_percent) VALUES (now() - INTERVAL '1 minute', $1, 12.5)",
      [m.rows[0].id],
    );
    await admin.query(
      "INSERT INTO discovery_profiles (name, agent_id, credential_profile_id, target) VALUES ('lan', $1, $2, '10.0.0.0/24')",
      [a.rows[0].id, c.rows[0].id],
    );
    await admin.query(
      "INSERT INTO audit_log (actor, entity_type, entity_id, action) VALUES ('admin', 'credential_profile', $1, 'create')",
      [c.rows[0].id],
    );
  });
  after(async () => {
    await reader?.end();
    await admin?.end();
    await db?.stop();
  });

  test('the migrations create the reader role without LOGIN', async () => {
    const r = await admin.query(
      'SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1',
      [GRAFANA_READER_ROLE],
    );
    assert.equal(r.rowCount, 1);
    assert.equal(r.rows[0].rolsuper || r.rows[0].rolcreaterole || r.rows[0].rolcreatedb, false);
    // The TimescaleDB cluster is shared by every test file (and run), so only a fresh cluster shows the initial state.
    if (backend === 'plain') {
      assert.equal(r.rows[0].rolcanlogin, false);
      // No password yet: password authentication fails before LOGIN is even checked.
      await assert.rejects(connectAsReader(db.url), /not permitted to log in|password authentication failed/);
    }
  });

  test('with a password set the role logs in; the database stores a SCRAM verifier, not the password', async () => {
    await enableTestReader(db.url);
    const r = await admin.query('SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = $1', [
      GRAFANA_READER_ROLE,
    ]);
    assert.equal(r.rows[0].rolcanlogin, true);
    assert.match(r.rows[0].rolpassword, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assert.ok(!r.rows[0].rolpassword.includes(TEST_READER_PASSWORD));
    reader = await connectAsReader(db.url);
    assert.equal((await reader.query('SELECT current_user AS u')).rows[0].u, GRAFANA_READER_ROLE);
    const hba = await admin.query("SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type = 'host'");
    if (!hba.rows.every((x) => x.auth_method === 'trust')) {
      const wrong = new pg.Client({ connectionString: readerUrl(db.url, 'not-the-password-at-all') });
      await assert.rejects(wrong.connect(), /password authentication failed/);
    }
  });

  test('the role reads what the dashboards need', async () => {
    const reads = [
      'SELECT count(*) FROM metrics',
      "SELECT count(*) FROM grafana_metrics(now() - INTERVAL '1 hour', now())",
      "SELECT count(*) FROM grafana_metrics_1h(now() - INTERVAL '1 day', now())",
      'SELECT id, ip, hostname, status FROM devices',
      'SELECT id, name, status, last_seen, health, version FROM agents',
      'SELECT id, device_id, enabled, last_polled, last_error_class, consecutive_failures FROM monitors',
      'SELECT id, name, type FROM plugins',
    ];
    if (backend === 'timescaledb') reads.push('SELECT count(*) FROM metrics_5m', 'SELECT count(*) FROM metrics_1h');
    for (const sql of reads) await reader.query(sql);
    const n = await reader.query("SELECT count(*)::int AS n FROM grafana_metrics(now() - INTERVAL '1 hour', now())");
    assert.equal(n.rows[0].n, 1);
  });

  test('the role cannot read credentials, secrets or the audit log', async () => {
    for (const sql of [
      'SELECT * FROM credential_profiles',
      'SELECT password_enc FROM credential_profiles',
      'SELECT count(*) FROM credential_profiles',
      'SELECT * FROM discovery_profiles',
      'SELECT * FROM audit_log',
      'SELECT enrollment_token_hash FROM agents',
      'SELECT sign_public_key FROM agents',
      'SELECT * FROM agents',
      'SELECT credential_profile_id FROM monitors',
      'SELECT config FROM plugins',
      'SELECT * FROM drizzle.__drizzle_migrations',
    ]) {
      await assert.rejects(reader.query(sql), (err: { code?: string }) => err.code === '42501', sql);
    }
  });

  test('the role cannot write anything, even after turning read-only transactions off', async () => {
    const writes = [
      'INSERT INTO metrics (time, monitor_id, cpu_percent) SELECT now(), id, 1 FROM monitors LIMIT 1',
      "UPDATE devices SET status = 'inactive'",
      'DELETE FROM metrics',
      "UPDATE agents SET name = 'x'",
      'DELETE FROM agents',
      'TRUNCATE metrics',
      "INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ('x', 'winrm_basic', 'u', 'p', 'k', 1)",
      'CREATE TABLE grafana_scratch (x int)',
      'CREATE TEMP TABLE grafana_scratch (x int)',
      'DROP FUNCTION grafana_metrics(timestamptz, timestamptz, int[])',
      'CREATE OR REPLACE FUNCTION grafana_metrics_1h() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
    ];
    assert.equal(
      (await reader.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only,
      'on',
    );
    for (const sql of writes) await assert.rejects(reader.query(sql), /read-only transaction/, sql);
    await reader.query('SET default_transaction_read_only = off');
    for (const sql of writes.filter((w) => !w.includes('TEMP')))
      await assert.rejects(
        reader.query(sql),
        (err: { code?: string }) => ['42501', '42P01'].includes(err.code ?? ''),
        sql,
      );
    await reader.query('RESET default_transaction_read_only');
    const still = await admin.query(
      'SELECT (SELECT count(*) FROM metrics)::int AS m, (SELECT count(*) FROM agents)::int AS a',
    );
    assert.deepEqual(still.rows[0], { m: 1, a: 1 });
  });

  test('running the migrations again keeps the grants (rebuilt relations are granted again)', async () => {
    assert.equal(await runMigrations(db.url), backend === 'timescaledb' ? 'timescaledb' : 'plain');
    await reader.query('SELECT count(*) FROM metrics');
    if (backend === 'timescaledb') await reader.query('SELECT count(*) FROM metrics_1h');
    await assert.rejects(reader.query('SELECT * FROM credential_profiles'), /permission denied/);
  });
});

test('grafana.db_password comes from NMSLITE_GRAFANA_DB_PASSWORD and must be a real secret', () => {
  const env = (v: string) => loadConfig([], { NMSLITE_GRAFANA_DB_PASSWORD: v });
  assert.equal(parseConfig(env('a-long-enough-reader-password')).grafana.db_password, 'a-long-enough-reader-password');
  assert.equal(parseConfig({}).grafana.db_password, undefined);
  assert.throws(() => parseConfig(env('short')), /grafana\.db_password: must be at least 16 characters/);
  assert.throws(
    () => parseConfig(env('change-me-grafana-reader-password')),
    /grafana\.db_password: is still the example value/,
  );
  assert.throws(
    () => parseConfig(env('pässwörd-that-is-long-enough')),
    /grafana\.db_password: must be printable ASCII/,
  );
});

test('a server started with the password lets the role log in and never logs the password', async () => {
  const secret = 'server-start-reader-password-42';
  const ts = await startTestServer({ grafana: { db_password: secret } });
  try {
    const c = new pg.Client({ connectionString: readerUrl(ts.dbUrl, secret) });
    await c.connect();
    assert.equal((await c.query('SELECT count(*)::int AS n FROM agents WHERE id > 0')).rowCount, 1);
    await c.end();
    assert.ok(ts.logs.some((l) => l.includes('Grafana reader role may log in')));
    assert.ok(!ts.logs.some((l) => l.includes(secret)));
  } finally {
    await ts.stop();
  }
});
