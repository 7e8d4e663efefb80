import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { isServerEnv } from '../server/config.ts';
import { isAgentEnv } from '../agent/config.ts';
import { GRAFANA_READER_ROLE } from '../server/db/grafana-reader.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8'));
const readme = readFileSync(`${ROOT}README.md`, 'utf8');
const envExample = readFileSync(`${ROOT}.env.example`, 'utf8');

test('docker-compose sets only environment variables the server and agent actually read', () => {
  const server = Object.keys(compose.services.server.environment);
  const agent = Object.keys(compose.services.agent.environment);
  assert.deepEqual(
    server.filter((k) => !isServerEnv(k)),
    [],
  );
  assert.deepEqual(
    agent.filter((k) => !isAgentEnv(k)),
    [],
  );
  assert.ok(server.includes('DATABASE_URL') && server.includes('NMSLITE_MASTER_KEY') && server.includes('JWT_SECRET'));
  assert.equal(isServerEnv('NMSLITE_NOT_A_SETTING'), false, 'the check can fail');
});

test('every variable the compose file needs is in .env.example', () => {
  const text = readFileSync(`${ROOT}docker-compose.yml`, 'utf8');
  const vars = new Set([...text.matchAll(/\$\{(\w+)/g)].map((m) => m[1]!));
  const defined = new Set(
    envExample
      .split('\n')
      .filter((l) => /^\w+=/.test(l))
      .map((l) => l.split('=')[0]!),
  );
  assert.deepEqual(
    [...vars].filter((v) => !defined.has(v)),
    [],
  );
});

test('images, ports and build files agree with the README and the repository', () => {
  assert.match(
    compose.services.timescaledb.image,
    /^timescale\/timescaledb:\d+\.\d+\.\d+-pg\d+$/,
    'pinned to a release, not latest',
  );
  assert.deepEqual(compose.services.server.ports, ['8443:8443']);
  assert.equal(compose.services.server.environment.NMSLITE_SERVER_PORT, '8443');
  assert.ok(readme.includes('https://localhost:8443'));
  for (const svc of ['server', 'agent']) readFileSync(`${ROOT}${compose.services[svc].build.dockerfile}`, 'utf8');
  assert.match(compose.services.server.environment.DATABASE_URL, /@timescaledb:5432\//);
  assert.ok(readme.includes('docker compose up'));
});

test('a service image that runs as a non-root user owns the directories its volumes are mounted on', () => {
  for (const [name, svc] of Object.entries(
    compose.services as Record<string, { build?: { dockerfile: string }; volumes?: string[] }>,
  )) {
    if (!svc.build) continue;
    const dockerfile = readFileSync(`${ROOT}${svc.build.dockerfile}`, 'utf8');
    const user = /^USER\s+(\S+)/m.exec(dockerfile)?.[1];
    if (!user || user === 'root') continue;
    for (const mount of (svc.volumes ?? []).map((v) => v.split(':')[1]!)) {
      // Docker creates a missing mount point root-owned: the image must create and chown it.
      assert.match(
        dockerfile,
        new RegExp(`chown\\s+${user}(:\\S+)?\\s+${mount.replace(/[/.]/g, '\\$&')}`),
        `${name}: ${mount} is owned by ${user}`,
      );
    }
  }
});

test('Grafana: a pinned image, provisioning mounted read-only, the data source logs in as the read-only role', () => {
  const grafana = compose.services.grafana;
  assert.match(grafana.image, /^grafana\/grafana(-oss)?:\d+\.\d+\.\d+$/, 'pinned to a release, not latest');
  assert.deepEqual(grafana.ports, ['3000:3000']);
  assert.match(grafana.environment.GF_SECURITY_ADMIN_PASSWORD, /^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
  const mounts = new Map((grafana.volumes as string[]).map((v) => [v.split(':')[1]!, v]));
  for (const [dir, target] of [
    ['./grafana/provisioning', '/etc/grafana/provisioning'],
    ['./grafana/dashboards', '/etc/grafana/dashboards'],
  ] as const) {
    assert.equal(mounts.get(target), `${dir}:${target}:ro`, `${dir} mounted read-only at ${target}`);
  }

  const ds = parse(readFileSync(`${ROOT}grafana/provisioning/datasources/nmslite.yaml`, 'utf8')).datasources;
  assert.equal(ds.length, 1);
  const [source] = ds;
  assert.equal(source.type, 'grafana-postgresql-datasource');
  assert.equal(source.user, GRAFANA_READER_ROLE);
  assert.equal(source.url, 'timescaledb:5432');
  assert.equal(source.jsonData.database, compose.services.timescaledb.environment.POSTGRES_DB);
  assert.equal(source.jsonData.timescaledb, true, 'the compose database is TimescaleDB');
  // Grafana expands ${VAR} in provisioning files from its own environment; the server sets the same password on the role.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's ${VAR} syntax, not a template
  assert.equal(source.secureJsonData.password, '${NMSLITE_GRAFANA_DB_PASSWORD}');
  assert.equal(
    grafana.environment.NMSLITE_GRAFANA_DB_PASSWORD,
    compose.services.server.environment.NMSLITE_GRAFANA_DB_PASSWORD,
  );
  assert.ok(isServerEnv('NMSLITE_GRAFANA_DB_PASSWORD'));
  const migration = readFileSync(`${ROOT}migrations/0006_grafana_reader.sql`, 'utf8');
  assert.ok(
    migration.includes(`CREATE ROLE ${GRAFANA_READER_ROLE} NOLOGIN`),
    'the migrations create the role the data source uses',
  );

  const providers = parse(readFileSync(`${ROOT}grafana/provisioning/dashboards/nmslite.yaml`, 'utf8')).providers;
  assert.deepEqual(
    providers.map((p: { options: { path: string } }) => p.options.path),
    ['/etc/grafana/dashboards'],
  );
  const files = readdirSync(`${ROOT}grafana/dashboards`).filter((f) => f.endsWith('.json'));
  assert.deepEqual(files.sort(), ['fleet.json', 'host.json']);
  for (const f of files) {
    const d = JSON.parse(readFileSync(`${ROOT}grafana/dashboards/${f}`, 'utf8'));
    for (const p of d.panels.filter((x: { type: string }) => x.type !== 'row'))
      for (const t of p.targets)
        assert.equal(t.datasource.uid, source.uid, `${f}: ${p.title} uses the provisioned data source`);
  }
  assert.equal(grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, '/etc/grafana/dashboards/fleet.json');
  assert.ok(readme.includes('http://localhost:3000'));
});
