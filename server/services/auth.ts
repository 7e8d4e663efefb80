import { checkAdmin } from '../auth/admin.ts';
import type { TokenIssuer } from '../auth/jwt.ts';
import type { LoginThrottle } from '../auth/login-throttle.ts';
import { AppError } from '../errors.ts';

export function createAuthService(o: {
  admin: { username: string; password: string };
  tokens: TokenIssuer;
  throttle: LoginThrottle;
}) {
  return {
    /** Check, verdict and count happen before the first await: each login of a tRPC batch is one try. */
    async login(ip: string, creds: { username: string; password: string }) {
      const wait = o.throttle.retryAfter(ip, creds.username);
      if (wait > 0)
        throw new AppError('RATE_LIMITED', `too many failed logins; try again in ${wait} s`, { retry_after: wait });
      if (!checkAdmin(o.admin, creds)) {
        o.throttle.fail(ip, creds.username);
        throw new AppError('UNAUTHORIZED', 'invalid username or password');
      }
      o.throttle.succeed(ip, creds.username);
      return o.tokens.issue(creds.username);
    },
    /** Revokes every admin token issued so far, the caller's included. */
    logout: (): Promise<void> => o.tokens.revokeAll(),
    verify: (token: string) => o.tokens.verify(token),
  };
}
