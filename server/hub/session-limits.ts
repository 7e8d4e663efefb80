/**
 * Per-session limits of an agent socket (issue 13 finding 3: 1M heartbeats sent without reading
 * the replies took the server from 112 to 430 MB, the replies piling up in the socket's buffer).
 *
 * - Outbound: a session whose socket holds more than agents.max_unsent_mb (server/config.ts) not
 *   yet written (the agent is not reading) is closed with 4029 "not reading" instead of buffering more. It is
 *   well above a whole schedule.full (parts of up to MAX_MESSAGE_BYTES go out back to back: 25,000
 *   monitors with bulky configs are several parts), so only an agent that stopped reading meets it.
 * - Inbound: at most MESSAGES_PER_SECOND messages a second on average, bursts up to MESSAGE_BURST
 *   (a token bucket); beyond it the session is closed with 4029. A real agent sends a heartbeat
 *   every heartbeat_ms, its acks and at most a few result batches at a time (the session stops
 *   reading while 16 are being stored), far below this.
 */
/**
 * The largest WebSocket message the hub's socket layer buffers (ws maxPayload). Messages over the
 * protocol's MAX_MESSAGE_BYTES but within this are closed by the session with 4008 and a reason;
 * larger ones are refused by the socket layer itself (1009) before they are buffered.
 */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;
export const MESSAGES_PER_SECOND = 100;
export const MESSAGE_BURST = 1000;

export class MessageRate {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond = MESSAGES_PER_SECOND,
    private readonly burst = MESSAGE_BURST,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one message's token; false when the session is over its rate. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
