import type { NtlmAcceptor, NtlmServerSession } from './ntlm-acceptor.ts';

export type AuthMode = 'ntlm' | 'basic' | 'both';

/** Authentication state bound to one TCP connection, as NTLM requires. */
export interface ConnectionState {
  pending?: unknown;
  user?: string;
  session?: NtlmServerSession;
}

export interface AuthHost {
  auth: AuthMode;
  user: string;
  password: string;
  /** Fault injection: the host's password changed, so nothing the client sends matches. */
  wrongPassword: boolean;
  ntlm: NtlmAcceptor | null;
}

export type AuthOutcome = { kind: 'ok'; user: string } | { kind: 'challenge'; token: Buffer } | { kind: 'denied' };

/**
 * Basic on every request, or NTLM under the Negotiate scheme (raw NTLMSSP tokens): NEGOTIATE → CHALLENGE
 * (401) → AUTHENTICATE, after which the connection stays authenticated without an Authorization header.
 */
export function authenticateRequest(authorization: string, conn: ConnectionState, host: AuthHost): AuthOutcome {
  if (authorization === '') return conn.session && conn.user ? { kind: 'ok', user: conn.user } : { kind: 'denied' };
  const space = authorization.indexOf(' ');
  const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
  const token = space < 0 ? '' : authorization.slice(space + 1).trim();
  if (scheme === 'basic' && host.auth !== 'ntlm') {
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = stripDomain(colon < 0 ? decoded : decoded.slice(0, colon));
    const pass = colon < 0 ? '' : decoded.slice(colon + 1);
    conn.session = undefined;
    conn.user = undefined;
    if (name.toLowerCase() !== stripDomain(host.user).toLowerCase() || pass !== host.password || host.wrongPassword)
      return { kind: 'denied' };
    return { kind: 'ok', user: name };
  }
  if (scheme !== 'negotiate' || host.auth === 'basic' || !host.ntlm) return { kind: 'denied' };
  const raw = Buffer.from(token, 'base64');
  if (raw.length < 12 || raw.subarray(0, 8).toString('latin1') !== 'NTLMSSP\0') return { kind: 'denied' };
  const type = raw.readUInt32LE(8);
  if (type === 1) {
    const { token: challenge, pending } = host.ntlm.challenge(raw);
    conn.pending = pending;
    conn.session = undefined;
    conn.user = undefined;
    return { kind: 'challenge', token: challenge };
  }
  const pending = conn.pending;
  conn.pending = undefined;
  if (type !== 3 || pending === undefined) return { kind: 'denied' };
  const password = host.wrongPassword ? `${host.password}\u0000changed` : host.password;
  const result = host.ntlm.authenticate(pending, raw, password);
  if (!result || result.user.toLowerCase() !== stripDomain(host.user).toLowerCase()) return { kind: 'denied' };
  conn.session = result.session;
  conn.user = result.user;
  return { kind: 'ok', user: result.user };
}

/** `HOST\user`, `.\user` and `user@domain` all name the local account `user`. */
export function stripDomain(name: string): string {
  const slash = name.lastIndexOf('\\');
  const base = slash >= 0 ? name.slice(slash + 1) : name;
  const at = base.indexOf('@');
  return at >= 0 ? base.slice(0, at) : base;
}
