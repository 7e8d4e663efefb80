/**
 * Bumped on incompatible changes; the server refuses a hello with another version.
 * 2: the agent holds its site's schedule (schedule.full / schedule.delta) instead of receiving jobs.
 */
export const PROTOCOL_VERSION = 2;

/** Largest WebSocket message either side accepts (bytes). A results batch of 500 samples is ~150 KB. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** WebSocket close codes (4000–4999 are application codes) and what each tells the peer. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  /** The server failed (e.g. its database); the agent reconnects with backoff. */
  serverError: 1011,
  protocolError: 4000,
  unauthorized: 4001,
  authTimeout: 4002,
  agentDisabled: 4003,
  replaced: 4004,
  tooLarge: 4008,
  versionMismatch: 4009,
  serverBusy: 4029,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which reconnecting would be pointless until an admin acts. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.unauthorized, CloseCode.agentDisabled, CloseCode.versionMismatch]);
