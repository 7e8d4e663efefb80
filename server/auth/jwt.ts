import { jwtVerify, SignJWT } from 'jose';

/** Admin session tokens: HS256 only (an `alg: none` or RS/ES token is refused), fixed lifetime. */
export function createTokenIssuer(secret: string, ttlSeconds: number) {
  const key = new TextEncoder().encode(secret);
  return {
    async issue(username: string): Promise<{ token: string; expires_at: string }> {
      const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
      const token = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(username).setIssuedAt().setExpirationTime(exp).setIssuer('nmslite').sign(key);
      return { token, expires_at: new Date(exp * 1000).toISOString() };
    },
    async verify(token: string): Promise<{ username: string } | undefined> {
      try {
        // Every token we issue expires; one without `exp` would be valid forever.
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], issuer: 'nmslite', requiredClaims: ['exp', 'sub'] });
        return payload.sub ? { username: payload.sub } : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
export type TokenIssuer = ReturnType<typeof createTokenIssuer>;
