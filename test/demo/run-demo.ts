// `npm run demo`: the server on its embedded database, 25 simulated Windows hosts, an enrolled local
// agent, a discovery that provisions monitors — then live metrics. Ctrl-C stops everything; run again
// and it reuses its data in ./data/demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../server/config.ts';
import { createLog } from '../../server/log.ts';
import { startServer } from '../../server/server.ts';
import { startWinsim } from '../winsim/index.ts';
import { httpsRequest } from '../helpers/server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DATA = `${ROOT}data/demo`;
const PORT = Number(process.env.NMSLITE_SERVER_PORT ?? 8443);
const HOSTS = 25;
const NET = '127.0.50';
const WIN_PASSWORD = 'Demo-Windows-Pass1';
const say = (s = '') => process.stdout.write(`${s}\n`);

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  say('Starting the NMSlite server on its embedded PostgreSQL …');
  const server = await startServer(
    parseConfig({ data_dir: DATA, server: { port: PORT }, database: { embedded_port: 54339 }, log: { level: 'warn' } }),
    { log: createLog('warn') },
  );
  const password = JSON.parse(readFileSync(`${DATA}/secrets.json`, 'utf8')).auth_password as string;
  const base = `https://localhost:${server.port}`;
  const sim = await startWinsim({
    hosts: HOSTS,
    bind: `${NET}.1`,
    distinctAddresses: true,
    portBase: 5985,
    auth: 'ntlm',
    password: WIN_PASSWORD,
    seed: 42,
  });
  say(`${HOSTS} simulated Windows hosts listen on ${NET}.1-${NET}.${HOSTS} (WinRM 5985, NTLM)`);

  let token = '';
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await httpsRequest(
      method,
      `${base}/api/v1${path}`,
      { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body === undefined ? undefined : JSON.stringify(body),
    );
    if (r.status >= 400 && r.status !== 404)
      throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  token = (await api('POST', '/auth/login', { username: 'admin', password })).token;

  const agents = (await api('GET', '/agents')) as { id: number; name: string }[];
  let agent = agents.find((a) => a.name === 'demo-site');
  const home = `${DATA}/agent`;
  if (!agent || !existsSync(`${home}/identity.json`)) {
    const created = agent
      ? await api('POST', `/agents/${agent.id}/enrollment-token`)
      : await api('POST', '/agents', { name: 'demo-site' });
    agent = created.agent;
    await new Promise<void>((resolve, reject) => {
      const p = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'agent/main.ts',
          'enroll',
          '--server',
          `wss://localhost:${server.port}`,
          '--token',
          created.enrollment_token,
          '--home',
          home,
        ],
        { cwd: ROOT, stdio: 'ignore' },
      );
      p.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`agent enrollment failed (exit ${c})`))));
    });
  }
  const agentProc: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'agent/main.ts', 'run', '--home', home, '--log-level', 'warn'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  for (let i = 0; i < 100 && !(await api('GET', `/agents/${agent!.id}`)).online; i++)
    await new Promise((r) => setTimeout(r, 200));
  say(`Agent 'demo-site' (id ${agent!.id}) is connected.`);

  const creds = (await api('GET', '/credential-profiles')) as { id: number; name: string }[];
  const cred =
    creds.find((c) => c.name === 'demo-windows') ??
    (await api('POST', '/credential-profiles', {
      name: 'demo-windows',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: WIN_PASSWORD,
    }));
  const profiles = (await api('GET', '/discovery-profiles')) as { id: number; name: string }[];
  const dp =
    profiles.find((p) => p.name === 'demo-office') ??
    (await api('POST', '/discovery-profiles', {
      name: 'demo-office',
      agent_id: agent!.id,
      credential_profile_id: cred.id,
      target: `${NET}.1-${NET}.30`,
      auto_provision: true,
      polling_interval: 30,
    }));
  say('Running discovery …');
  const run = await api('POST', `/discovery-profiles/${dp.id}/run`);
  say(
    `Discovery ${run.status}: found ${run.found} Windows hosts, provisioned ${run.provisioned_monitors} new monitors.`,
  );
  const monitors = (await api('GET', '/monitors')) as { id: number }[];
  const first = monitors[0]?.id ?? 1;

  say();
  say(`NMSlite demo is running at ${base}  (certificate fingerprint ${server.fingerprint.slice(0, 16)}…)`);
  say(`Admin login: admin / ${password}`);
  say();
  say('Try:');
  say(
    `  TOKEN=$(curl -sk -X POST ${base}/api/v1/auth/login -H 'content-type: application/json' -d '{"username":"admin","password":"${password}"}' | sed -E 's/.*"token":"([^"]+)".*/\\1/')`,
  );
  say(`  curl -sk ${base}/api/v1/monitors/${first}/metrics -H "authorization: Bearer $TOKEN"`);
  say(
    `  curl -sk "${base}/api/v1/monitors/${first}/metrics/history?from=$(date -u -d '-1 hour' +%FT%TZ)&bucket=5m" -H "authorization: Bearer $TOKEN"`,
  );
  say(`  curl -sk ${base}/api/v1/agents/${agent!.id} -H "authorization: Bearer $TOKEN"`);
  say();
  say('Metrics arrive within 30 s. Ctrl-C stops the demo.');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('\nStopping …');
    agentProc.kill('SIGTERM');
    await new Promise((r) => agentProc.once('exit', r));
    await sim.stop();
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exit(1);
});
