/**
 * Bumped on incompatible changes; the server refuses a hello with another version.
 * 2: the agent holds its site's schedule (schedule.full / schedule.delta) instead of receiving jobs.
 * 3: the agent offers AGENT_SUBPROTOCOL, waits for the server's `challenge` and signs its nonce in
 *    the hello's token (a captured hello is useless on another socket; no clock involved).
 */
export const PROTOCOL_VERSION = 3;

/**
 * The WebSocket subprotocol an agent of this version offers. It tells the server, before any
 * message, that the agent waits for a challenge; an agent that offers none (protocol 2 and older)
 * is sent nothing and gets the version-mismatch refusal for its hello.
 */
export const AGENT_SUBPROTOCOL = `nmslite-agent.${PROTOCOL_VERSION}`;

/** The protocol version an offered subprotocol names, or undefined for anything else. */
export function subprotocolVersion(protocol: string): number | undefined {
  const m = /^nmslite-agent\.([1-9][0-9]{0,5})$/.exec(protocol);
  return m ? Number(m[1]) : undefined;
}

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
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.unauthorized,
  CloseCode.agentDisabled,
  CloseCode.versionMismatch,
]);
