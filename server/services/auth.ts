import { checkAdmin } from '../auth/admin.ts';
import type { TokenIssuer } from '../auth/jwt.ts';
import type { LoginThrottle } from '../auth/login-throttle.ts';
import { AppError } from '../errors.ts';

export function createAuthService(o: { admin: { username: string; password: string }; tokens: TokenIssuer; throttle: LoginThrottle }) {
  return {
    async login(ip: string, creds: { username: string; password: string }) {
      const wait = o.throttle.retryAfter(ip);
      if (wait > 0) throw new AppError('RATE_LIMITED', `too many failed logins from this address; try again in ${wait} s`, { retry_after: wait });
      if (!checkAdmin(o.admin, creds)) {
        o.throttle.fail(ip);
        throw new AppError('UNAUTHORIZED', 'invalid username or password');
      }
      o.throttle.succeed(ip);
      return o.tokens.issue(creds.username);
    },
    verify: (token: string) => o.tokens.verify(token),
  };
}
