import type { Spool } from './spool.ts';

export interface ResultWriterLog {
  error(o: object, msg: string): void;
}

/** A failing spool is logged at most this often (with how many results were lost since). */
const LOG_EVERY_MS = 60_000;

/**
 * The poller's way into the spool: one append per result, the link kicked once it is durable.
 * A result that cannot be spooled (disk full, I/O error) is counted and lost; the failure is
 * logged once, then at most once a minute with the count, not once per result.
 */
export function createResultWriter<T>(o: {
  spool: Pick<Spool<T>, 'append'>;
  log: ResultWriterLog;
  onSpooled: () => void;
  now?: () => number;
}) {
  const now = o.now ?? Date.now;
  let dropped = 0;
  let unlogged = 0;
  let loggedAt = Number.NEGATIVE_INFINITY;
  return {
    write(item: T): void {
      o.spool.append([item]).then(o.onSpooled, (err: Error) => {
        dropped++;
        unlogged++;
        if (now() - loggedAt < LOG_EVERY_MS) return;
        loggedAt = now();
        o.log.error(
          { err: err.message, kind: err.name, results_lost: unlogged, results_lost_total: dropped },
          'results could not be spooled and were lost',
        );
        unlogged = 0;
      });
    },
    /** Results lost since the agent started. */
    dropped: () => dropped,
  };
}
