import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { isServerEnv } from '../server/config.ts';
import { isAgentEnv } from '../agent/config.ts';

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
