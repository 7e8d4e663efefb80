/**
 * The agent's outbox for results (Telegraf's Buffer, made durable): the runner appends, the link
 * takes batches with `next`, and a record leaves only when the server acknowledges its sequence
 * number — which the server does after the transaction that stored it commits.
 *
 * Contract: `append` resolves once the records are durable (disk: fsynced) and returns their
 * sequence numbers, which increase by one and are never reused. `next` hands out each unacked
 * record once until `rewind` (after a reconnect) makes every unacked record due again.
 */
export interface SpoolRecord<T> {
  seq: number;
  data: T;
}

export interface SpoolStats {
  /** Records appended but not yet acknowledged. */
  backlog: number;
  /** Bytes the backlog occupies (disk spool: segment files). */
  bytes: number;
  /** Records handed out by `next` and not yet acknowledged. */
  inFlight: number;
  nextSeq: number;
}

export interface Spool<T> {
  append(items: T[]): Promise<number[]>;
  next(max: number): Promise<SpoolRecord<T>[]>;
  ack(seqs: number[]): Promise<void>;
  rewind(): void;
  stats(): SpoolStats;
  close(): Promise<void>;
}

/** The spool is at its size cap: the caller decides what to shed; nothing already spooled is lost. */
export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
  constructor(capBytes: number) {
    super(`the result spool is full (${capBytes} bytes); results are kept until the server acknowledges them`);
  }
}
