import { hostname } from 'node:os';
import { z } from 'zod';
import { generateAgentKeys, saveIdentity, type AgentIdentity } from './identity.ts';
import type { ProxySettings } from './config.ts';
import { postJson } from './link/https-json.ts';
import { formatFingerprint, normalizeFingerprint } from './link/pinned-tls.ts';
import { proxyFor } from './link/proxy.ts';
import { AGENT_VERSION } from './version.ts';

export interface EnrollOptions {
  server: string;
  token: string;
  fingerprint?: string;
  identityPath: string;
  proxy: ProxySettings;
  /** Told what enrollment is doing (the CLI shows it on a terminal). */
  onStep?: (text: string) => void;
}

const EnrollAnswer = z.object({ agent_id: z.number().int().positive(), name: z.string() });

export class EnrollError extends Error {
  override readonly name = 'EnrollError';
}

/** wss://host:port or https://host:port → the HTTPS base the server listens on. */
export function httpsBase(server: string): URL {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new EnrollError(`--server must be a URL like wss://nmslite.example.com:8443 (got '${server}')`);
  }
  if (!['wss:', 'https:'].includes(u.protocol))
    throw new EnrollError('--server must use wss:// or https:// (the agent never talks to the server unencrypted)');
  return new URL(`https://${u.host}`);
}

/** Generates the agent's keys, presents the one-time token with the public keys, pins the server. */
export async function enroll(o: EnrollOptions): Promise<AgentIdentity> {
  const base = httpsBase(o.server);
  const pin = o.fingerprint ? normalizeFingerprint(o.fingerprint) : undefined;
  if (pin !== undefined && !/^[0-9a-f]{64}$/.test(pin))
    throw new EnrollError('--fingerprint must be a SHA-256 fingerprint (64 hex digits, colons allowed)');
  const keys = generateAgentKeys();
  const proxy = proxyFor(base, o.proxy);
  o.onStep?.(`contacting the server at ${base.host}${proxy ? ` through the proxy ${proxy.host}` : ''}…`);
  const answer = await postJson(
    new URL('/api/v1/agents/enroll', base),
    {
      token: o.token,
      sign_public_key: keys.sign_public_key,
      seal_public_key: keys.seal_public_key,
      hostname: hostname(),
      version: AGENT_VERSION,
    },
    { proxy: o.proxy, ...(pin ? { pin } : {}) },
  );
  o.onStep?.(
    `server certificate sha256 ${formatFingerprint(answer.fingerprint)} ` +
      (pin
        ? '(matches --fingerprint)'
        : '(not checked: no --fingerprint given; compare it with the one the server printed, this agent pins it from now on)'),
  );
  if (answer.status !== 200 && answer.status !== 201) {
    const msg = (answer.body as { error?: { message?: string } } | undefined)?.error?.message;
    throw new EnrollError(`enrollment refused (HTTP ${answer.status}): ${msg ?? 'no reason given'}`);
  }
  const parsed = EnrollAnswer.safeParse(answer.body);
  if (!parsed.success) throw new EnrollError('the server answered enrollment with an unexpected body');
  const identity: AgentIdentity = {
    agent_id: parsed.data.agent_id,
    name: parsed.data.name,
    server: `wss://${base.host}`,
    server_fingerprint: answer.fingerprint,
    ...keys,
    enrolled_at: new Date().toISOString(),
  };
  saveIdentity(o.identityPath, identity);
  return identity;
}
