import { createHmac, timingSafeEqual } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { TokenEpochStore } from './token-epoch.ts';

/** A token may claim to have been issued this far ahead of the server's clock (seconds). */
const IAT_TOLERANCE_S = 60;

export interface TokenIssuerOptions {
  secret: string;
  /** Lifetime of issued tokens, and the most any accepted token may claim (exp - iat). */
  ttlSeconds: number;
  admin: { username: string; password: string };
  epochs: Pick<TokenEpochStore, 'current' | 'bump'>;
}

/**
 * Admin session tokens: HS256 only (an `alg: none` or RS/ES token is refused), fixed lifetime.
 * Each carries `ep`, a MAC of the admin's username, password and the revocation counter: a new
 * password or a logout (the counter moves) makes every earlier token invalid.
 */
export function createTokenIssuer(o: TokenIssuerOptions) {
  const key = new TextEncoder().encode(o.secret);
  const epochTag = (): Buffer =>
    createHmac('sha256', o.secret)
      .update(`admin-token-epoch\0${o.admin.username}\0${o.admin.password}\0${o.epochs.current()}`, 'utf8')
      .digest()
      .subarray(0, 16);
  return {
    async issue(username: string): Promise<{ token: string; expires_at: string }> {
      const iat = Math.floor(Date.now() / 1000);
      const exp = iat + o.ttlSeconds;
      const token = await new SignJWT({ role: 'admin', ep: epochTag().toString('base64url') })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(username)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setIssuer('nmslite')
        .sign(key);
      return { token, expires_at: new Date(exp * 1000).toISOString() };
    },
    async verify(token: string): Promise<{ username: string } | undefined> {
      try {
        // Every token we issue expires; one without `exp` would be valid forever.
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: 'nmslite',
          requiredClaims: ['exp', 'iat', 'sub', 'ep'],
        });
        if (payload.sub !== o.admin.username) return undefined;
        const iat = payload.iat!;
        if (payload.exp! - iat > o.ttlSeconds || iat > Date.now() / 1000 + IAT_TOLERANCE_S) return undefined;
        const ep = typeof payload.ep === 'string' ? Buffer.from(payload.ep, 'base64url') : Buffer.alloc(0);
        const want = epochTag();
        if (ep.length !== want.length || !timingSafeEqual(ep, want)) return undefined;
        return { username: payload.sub };
      } catch {
        return undefined;
      }
    },
    /** Every token issued so far stops working (logout). */
    revokeAll: (): Promise<void> => o.epochs.bump(),
  };
}
export type TokenIssuer = ReturnType<typeof createTokenIssuer>;
