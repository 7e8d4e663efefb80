import type { Logger } from 'pino';
import type pg from 'pg';
import { METRIC_COLUMNS, copyInto, encodeCopyRows } from './copy-rows.ts';
import { summarise, updateMonitorState } from './monitor-state.ts';
import type { PollResult, WriteOutcome } from './poll-result.ts';

export type { PollResult, WriteOutcome } from './poll-result.ts';

/**
 * The only writer of the metrics table and of monitors' state columns. Callers (the hub with agent
 * result batches, the expectation tracker with server-made `agent_offline` / `timeout` failures)
 * call `write`; results from all callers are batched by count and by time and stored in one short
 * transaction per batch:
 *   COPY into a per-connection temp staging table → INSERT … SELECT … ORDER BY key ON CONFLICT DO
 *   NOTHING → one UPDATE of monitor state (rows locked in id order) → COMMIT.
 * Chosen by measurement (bench/writer.ts). Up to `concurrency` batches are in flight on separate
 * connections so node and PostgreSQL work at the same time instead of taking turns; both the
 * metrics keys and the monitor rows are locked in one global order, so concurrent batches with
 * overlapping monitors wait for each other but never deadlock.
 * `write` resolves after the COMMIT that stored its results; only then may the hub ack the agent.
 *
 * Back-pressure (issue 13 finding 3: 100 batches of 5,000 results took the server to 597 MB): at
 * most `maxQueued` results wait in the queue. A `write` that would pass it waits (FIFO, its results
 * not queued) until there is room, and is rejected with WriterBusyError after `maxWaitMs`. The
 * caller does not ack meanwhile: the hub's session stops reading an agent that has 16 batches
 * pending, and a rejected batch closes the session with "resend", so the agent keeps the results
 * in its spool; nothing is lost. One write larger than `maxQueued` is admitted when the queue is empty.
 */
export interface MetricsWriterOptions {
  pool: pg.Pool;
  log: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  /** metrics.writer_batch, writer_flush_ms, writer_max_queued, writer_max_wait_s (defaults: server/config.ts). */
  batchSize: number;
  flushMs: number;
  /** Batches stored at once (default 2). */
  concurrency?: number;
  /** Most results queued (not yet in a batch being stored). */
  maxQueued: number;
  /** Longest a write waits for room in the queue before WriterBusyError. */
  maxWaitMs: number;
  /** Told of every batch stored or failed (Prometheus: server/observability). */
  recorder?: { batch(outcome: 'stored' | 'failed', results: number, rows: number, seconds: number): void };
}

/** The writer's queue stayed full for maxWaitMs; the caller should have the results sent again later. */
export class WriterBusyError extends Error {
  override readonly name = 'WriterBusyError';
}

export interface MetricsWriter {
  write(results: readonly PollResult[]): Promise<void>;
  /** Listeners run after each commit (health monitor, latest-metrics cache). Returns an unsubscribe. */
  onCommit(listener: (outcomes: WriteOutcome[]) => void): () => void;
  /** Writes whatever is queued now. */
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): {
    rows: number;
    results: number;
    batches: number;
    failedBatches: number;
    rejectedResults: number;
    queued: number;
    waiting: number;
    waited: number;
    busy: number;
    maxQueuedSeen: number;
  };
}

interface Pending {
  results: readonly PollResult[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

const STAGING = 'nmslite_metrics_staging';
/**
 * The stored columns (migration 0008): memory as whole KiB where it is one (the byte columns keep
 * any other value), the bandwidth instead of the utilization derived from it when the sample has one.
 * `metrics_values` reads them back as bytes and percent.
 */
const STORED: Record<string, string> = {
  memory_total: 'CASE WHEN s.memory_total % 1024 <> 0 THEN s.memory_total END',
  memory_used: 'CASE WHEN s.memory_used % 1024 <> 0 THEN s.memory_used END',
  net_utilization: 'CASE WHEN s.net_bandwidth IS NULL OR s.net_bandwidth = 0 THEN s.net_utilization END',
};
const KIB_COLUMNS = {
  memory_total_kb: 'CASE WHEN s.memory_total % 1024 = 0 THEN s.memory_total / 1024 END',
  memory_used_kb: 'CASE WHEN s.memory_used % 1024 = 0 THEN s.memory_used / 1024 END',
};
const INSERT = `
  INSERT INTO metrics (${[...METRIC_COLUMNS, ...Object.keys(KIB_COLUMNS)].join(', ')})
  SELECT ${[...METRIC_COLUMNS.map((c) => STORED[c] ?? `s.${c}`), ...Object.values(KIB_COLUMNS)].join(', ')}
    FROM ${STAGING} s
   WHERE EXISTS (SELECT 1 FROM monitors m WHERE m.id = s.monitor_id)
   ORDER BY s.monitor_id, s.time
  ON CONFLICT (monitor_id, time) DO NOTHING`;

/** SQLSTATE classes 22 (data exception) and 23 (integrity): the data is wrong, not the connection. */
const isDataError = (err: unknown): boolean =>
  /^2[23]/.test(String((err as { code?: unknown } | undefined)?.code ?? ''));

export function createMetricsWriter(opts: MetricsWriterOptions): MetricsWriter {
  const concurrency = opts.concurrency ?? 2;
  const { pool, log, batchSize, flushMs, maxQueued, maxWaitMs } = opts;

  const queue: Pending[] = [];
  let queued = 0;
  let active = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let flushWanted = false;
  let closed = false;
  const idle: (() => void)[] = [];
  const listeners = new Set<(o: WriteOutcome[]) => void>();
  const staged = new WeakSet<object>();
  const counters = {
    rows: 0,
    results: 0,
    batches: 0,
    failedBatches: 0,
    rejectedResults: 0,
    waited: 0,
    busy: 0,
    maxQueuedSeen: 0,
  };
  /** Writes waiting for room in the queue, oldest first. */
  const waiting: { p: Pending; timer: ReturnType<typeof setTimeout> }[] = [];

  const enqueue = (p: Pending): void => {
    queue.push(p);
    queued += p.results.length;
    if (queued > counters.maxQueuedSeen) counters.maxQueuedSeen = queued;
    kick();
  };
  const fits = (n: number): boolean => queued === 0 || queued + n <= maxQueued;
  /** Admits waiting writes in order while they fit (called whenever the queue shrinks). */
  const admit = (): void => {
    while (waiting.length > 0 && fits(waiting[0]!.p.results.length)) {
      const w = waiting.shift()!;
      clearTimeout(w.timer);
      enqueue(w.p);
    }
  };

  const take = (): Pending[] => {
    const out: Pending[] = [];
    let n = 0;
    while (queue.length > 0 && (out.length === 0 || n + queue[0]!.results.length <= batchSize)) {
      const p = queue.shift()!;
      n += p.results.length;
      out.push(p);
    }
    queued -= n;
    queueMicrotask(admit);
    return out;
  };

  const kick = (): void => {
    while (active < concurrency && queue.length > 0 && (flushWanted || queued >= batchSize)) {
      const items = take();
      if (queue.length === 0) flushWanted = false;
      active++;
      void runBatch(items).finally(() => {
        active--;
        kick();
        if (active === 0 && queue.length === 0) for (const f of idle.splice(0)) f();
      });
    }
    if (queue.length === 0) flushWanted = false;
    if (queue.length > 0 && !timer && !flushWanted) {
      timer = setTimeout(() => {
        timer = undefined;
        flushWanted = true;
        kick();
      }, flushMs);
    }
  };

  const committed = (outcomes: WriteOutcome[], results: number): void => {
    counters.batches++;
    counters.results += results;
    for (const l of listeners) {
      try {
        l(outcomes);
      } catch (err) {
        log.error({ err }, 'metrics writer: commit listener threw');
      }
    }
  };

  const runBatch = async (items: Pending[]): Promise<void> => {
    const results = items.length === 1 ? items[0]!.results : items.flatMap((p) => p.results);
    try {
      committed(await store(results), results.length);
      for (const p of items) p.resolve();
    } catch (err) {
      counters.failedBatches++;
      if (items.length > 1) {
        // One caller's bad data must not hold back everyone else's acks: retry each caller alone.
        log.warn({ err, callers: items.length }, 'metrics writer: batch failed, retrying callers one by one');
        for (const p of items) await runBatch([p]);
        return;
      }
      if (isDataError(err)) return storeEachAlone(items[0]!);
      log.error({ err, results: results.length }, 'metrics writer: batch failed');
      for (const p of items) p.reject(err);
    }
  };

  /**
   * PostgreSQL refused a value in this caller's results (out of range, invalid text). The same
   * batch would be refused on every resend and block the agent's acks for good, so each result is
   * stored alone and the ones the database refuses are dropped, counted and logged.
   */
  const storeEachAlone = async (p: Pending): Promise<void> => {
    for (const r of p.results) {
      try {
        committed(await store([r]), 1);
      } catch (err) {
        if (!isDataError(err)) return p.reject(err);
        counters.rejectedResults++;
        log.warn(
          { err: (err as Error).message, monitor_id: r.monitor_id, time: r.time },
          'metrics writer: the database refused a result; dropped',
        );
      }
    }
    p.resolve();
  };

  const store = async (results: readonly PollResult[]): Promise<WriteOutcome[]> => {
    const samples = results.filter((r): r is Extract<PollResult, { ok: true }> => r.ok && r.source !== 'server');
    const summaries = summarise(results);
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    let inserted = 0;
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      if (!staged.has(client)) {
        await client.query(
          `CREATE TEMP TABLE IF NOT EXISTS ${STAGING} (LIKE metrics INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
        );
        staged.add(client);
      }
      await client.query('BEGIN');
      if (samples.length > 0) {
        await copyInto(client, STAGING, encodeCopyRows(samples));
        const r = await client.query(INSERT);
        inserted = r.rowCount ?? 0;
        counters.rows += inserted;
      }
      const devices = await updateMonitorState(client, summaries);
      await client.query('COMMIT');
      opts.recorder?.batch('stored', results.length, inserted, seconds());
      const outcomes: WriteOutcome[] = [];
      for (const r of results) {
        const device_id = devices.get(r.monitor_id);
        if (device_id === undefined) continue;
        const source = r.source ?? 'agent';
        if (r.ok) {
          if (source === 'agent')
            outcomes.push({ monitor_id: r.monitor_id, device_id, time: r.time, ok: true, source });
        } else
          outcomes.push({
            monitor_id: r.monitor_id,
            device_id,
            time: r.time,
            ok: false,
            failure_class: r.failure.class,
            source,
          });
      }
      return outcomes;
    } catch (err) {
      opts.recorder?.batch('failed', results.length, 0, seconds());
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
      throw err;
    } finally {
      client.release(broken);
    }
  };

  return {
    write(results) {
      if (closed) return Promise.reject(new Error('metrics writer is closed'));
      if (results.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const p: Pending = { results, resolve, reject };
        if (waiting.length === 0 && fits(results.length)) return enqueue(p);
        counters.waited++;
        const w = {
          p,
          timer: setTimeout(() => {
            waiting.splice(waiting.indexOf(w), 1);
            counters.busy++;
            reject(
              new WriterBusyError(`the metrics writer's queue stayed full (${maxQueued} results) for ${maxWaitMs} ms`),
            );
          }, maxWaitMs),
        };
        waiting.push(w);
        kick();
      });
    },
    onCommit(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async flush() {
      if (queue.length === 0 && active === 0 && waiting.length === 0) return;
      const done = new Promise<void>((r) => idle.push(r));
      if (timer) clearTimeout(timer);
      timer = undefined;
      flushWanted = true;
      kick();
      await done;
    },
    async close() {
      await this.flush();
      closed = true;
    },
    stats: () => ({ ...counters, queued, waiting: waiting.length }),
  };
}
