import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestDatabase } from '../../helpers/db.ts';
import { runMigrations } from '../../../server/db/migrate.ts';

let db: Awaited<ReturnType<typeof startTestDatabase>>;
let client: pg.Client;
before(async () => {
  db = await startTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
after(async () => {
  await client.end();
  await db.stop();
});

test('migrations create every table, seed the built-in plugins and report plain storage without TimescaleDB', async () => {
  const t = await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
  assert.deepEqual(t.rows.map((r) => r.table_name), ['agents', 'credential_profiles', 'devices', 'discovery_profiles', 'metrics', 'monitors', 'plugins']);
  const p = await client.query('SELECT name, type, builtin FROM plugins ORDER BY name');
  assert.deepEqual(p.rows, [
    { name: 'windows-powershell', type: 'windows-powershell', builtin: true },
    { name: 'windows-wmi', type: 'windows-wmi', builtin: true },
  ]);
  assert.equal((await client.query('SELECT nmslite_storage_mode() AS m')).rows[0].m, 'plain');
});

test('running the migrations again changes nothing', async () => {
  assert.equal(await runMigrations(db.url), 'plain');
  assert.equal((await client.query('SELECT count(*)::int AS n FROM plugins')).rows[0].n, 2);
});

test('the same private address may exist once per agent', async () => {
  const a = await client.query("INSERT INTO agents (name) VALUES ('site-a'), ('site-b') RETURNING id");
  const [x, y] = a.rows.map((r) => r.id);
  await client.query('INSERT INTO devices (agent_id, ip) VALUES ($1, $3), ($2, $3)', [x, y, '10.0.0.5']);
  await assert.rejects(client.query('INSERT INTO devices (agent_id, ip) VALUES ($1, $2)', [x, '10.0.0.5']), /devices_agent_ip_key/);
});
