import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProxySettings } from '../../agent/config.ts';
import { generateAgentKeys, type AgentIdentity } from '../../agent/identity.ts';
import { postJson } from '../../agent/link/https-json.ts';
import { DIRECT } from '../../agent/link/proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../agent/main.ts', import.meta.url));

export function agentHome(): string {
  const dir = mkdtempSync('/tmp/nmslite-agent-');
  chmodSync(dir, 0o700);
  return dir;
}

/** Runs one agent command to completion (enroll, status, collect …). */
export function runAgentCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      // Generous: tsx compiles the agent on every start, which a loaded machine can take long over.
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Starts `nmslite-agent run` as a real process; `logs` collects its JSON log lines. */
export function startAgentProcess(
  home: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): { child: ChildProcess; logs: string[]; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, 'run', '--home', home, '--log-level', 'debug', ...extra],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: string[] = [];
  child.stderr!.on('data', (c: Buffer) => logs.push(...c.toString('utf8').split('\n').filter(Boolean)));
  child.stdout!.on('data', (c: Buffer) => logs.push(...c.toString('utf8').split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, logs, exited };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/** `nmslite-agent status` (extra flags, e.g. --json) parsed; throws with its stderr when it fails. */
export async function agentStatus(home: string, extra: string[] = []): Promise<any> {
  const r = await runAgentCommand(['status', '--home', home, ...extra]);
  if (r.code !== 0) throw new Error(`nmslite-agent status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** What enrollAgent and waitOnline need of a test server: the in-process TestServer or a ServerProcess. */
export interface AgentApi {
  port: number;
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
}

/**
 * Creates the agent `name` through the API and runs `nmslite-agent enroll` with its token into a fresh
 * home, against `serverUrl` (default the server's own wss:// port); asserts that both steps succeeded.
 */
export async function enrollAgent(
  s: AgentApi,
  name: string,
  o: { serverUrl?: string; home?: string; token?: string } = {},
): Promise<{ agentId: number; home: string }> {
  const created = await s.api('POST', '/api/v1/agents', { name }, o.token);
  assert.ok(
    created.status === 201 || created.status === 200,
    `create agent: ${created.status} ${JSON.stringify(created.body)}`,
  );
  const home = o.home ?? agentHome();
  const enrolled = await runAgentCommand([
    'enroll',
    '--server',
    o.serverUrl ?? `wss://127.0.0.1:${s.port}`,
    '--token',
    created.body.enrollment_token,
    '--home',
    home,
  ]);
  assert.equal(enrolled.code, 0, `enroll failed: ${enrolled.stderr}`);
  return { agentId: created.body.agent.id as number, home };
}

/** Waits until GET /agents/:id reports the agent online (or, with `online` false, offline). */
export async function waitOnline(s: AgentApi, agentId: number, online = true, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    `agent ${agentId} ${online ? 'online' : 'offline'}`,
    async () => (await s.api('GET', `/api/v1/agents/${agentId}`)).body?.online === online,
    timeoutMs,
    250,
  );
}

/** Waits (as `what`) until GET /discovery-runs/:id reports the run no longer running; its body. */
export async function discoveryRunEnded(
  s: AgentApi,
  what: string,
  runId: string,
  timeoutMs: number,
  everyMs = 200,
): Promise<any> {
  return waitFor(
    what,
    async () => {
      const r = (await s.api('GET', `/api/v1/discovery-runs/${runId}`)).body;
      return r.status !== 'running' ? r : undefined;
    },
    timeoutMs,
    everyMs,
  );
}

/** POST /agents/enroll at `s.url` with `token` and a fresh key pair, as the agent does (through `proxy`, pinned to `pin` if given). */
export async function postEnroll(
  s: { url: string },
  token: string,
  o: { proxy?: ProxySettings; pin?: string } = {},
): Promise<{ r: Awaited<ReturnType<typeof postJson>>; keys: ReturnType<typeof generateAgentKeys> }> {
  const keys = generateAgentKeys();
  const r = await postJson(
    new URL(`${s.url}/api/v1/agents/enroll`),
    { token, sign_public_key: keys.sign_public_key, seal_public_key: keys.seal_public_key },
    { proxy: o.proxy ?? DIRECT, ...(o.pin ? { pin: o.pin } : {}) },
  );
  return { r, keys };
}

/** Creates the agent `name` and enrolls it in this process: the identity an in-process link (agent/link/client.ts) runs on. */
export async function enrollIdentity(s: AgentApi & { url: string }, name: string): Promise<AgentIdentity> {
  const created = await s.api('POST', '/api/v1/agents', { name });
  const { r, keys } = await postEnroll(s, created.body.enrollment_token);
  assert.equal(r.status, 200, `enroll ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return {
    agent_id: (r.body as { agent_id: number }).agent_id,
    name,
    server: `wss://127.0.0.1:${s.port}`,
    server_fingerprint: r.fingerprint,
    ...keys,
    enrolled_at: new Date().toISOString(),
  };
}
