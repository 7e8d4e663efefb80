import pino from 'pino';

export type Log = pino.Logger;

/** Paths never logged: authorization headers, passwords, tokens and secrets, wherever they nest. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'access_token',
  'enrollment_token',
  '*.enrollment_token',
  'jwt_secret',
  'master_key',
];

export function createLog(level: string, destination?: pino.DestinationStream): Log {
  return pino(
    { level, base: { svc: 'nmslite-server' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
