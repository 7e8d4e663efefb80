import pino from 'pino';

/** JSON logs to stderr through pino.destination: transports (worker threads) fail in a single executable. */
export function createAgentLog(level: string): pino.Logger {
  return pino(
    {
      level,
      base: { svc: 'nmslite-agent' },
      redact: { paths: ['password', '*.password', 'credential.password', 'token', '*.token'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
