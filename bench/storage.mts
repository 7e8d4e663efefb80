/**
 * Bytes per stored sample: a plain PostgreSQL table (the project's schema and indexes), the same rows
 * in the project's `metrics` hypertable uncompressed, then compressed (segmentby monitor_id, orderby
 * time DESC, as the server sets it), plus the 5-minute and 1-hour continuous aggregates. All in one
 * fresh database on a real TimescaleDB, in the same run.
 *
 *   NMSLITE_TEST_TIMESCALE_URL=postgres://postgres@127.0.0.1:55432/postgres npx tsx bench/storage.mts [--monitors 10000] [--hours 24]
 *
 * Values are realistic rather than random, stored as the server's writer stores a Windows host's
 * samples (migration 0008: memory in whole KiB as Win32_OperatingSystem reports it, the link bandwidth
 * instead of the utilization derived from it): per monitor a fixed memory and disk total and link
 * bandwidth, memory used drifting slowly around a monitor-specific level, disk used growing slowly, CPU noisy around a
 * monitor-specific mean with occasional spikes (an integer, as Win32_PerfFormattedData reports it),
 * network rates noisy around a monitor-specific level, packet rates and rare errors, process counts
 * drifting, collection times noisy; one sample per minute per monitor, aligned to the minute.
 * Target (issue 12): compressed ≤ 16 B per sample.
 */
import pg from 'pg';
import { startTestDatabase } from '../test/helpers/db.ts';
import { applyRetention } from '../server/metrics/retention.ts';
import { RETENTION_DEFAULTS } from '../test/helpers/config-defaults.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const MONITORS = arg('monitors', 10_000);
const HOURS = arg('hours', 24);
const T0 = '2026-11-01T00:00:00Z';
const silent = { info() {}, warn() {}, error() {}, debug() {} } as never;

/** The columns REALISTIC_SAMPLES gives, in its order: as the server's writer stores a Windows host's samples. */
export const REALISTIC_COLUMNS =
  'time, monitor_id, agent_seq, cpu_percent, memory_total_kb, memory_used_kb, disk_total, disk_used, net_sent_ps, ' +
  'net_recv_ps, net_bandwidth, packets_sent, packets_recv, net_errors, net_dropped, process_count, collection_ms';
/** One sample per minute per monitor of realistic values (see the header), as SELECT columns REALISTIC_COLUMNS. */
export const REALISTIC_SAMPLES = `
  SELECT $1::timestamptz + make_interval(mins => t) AS time, m AS monitor_id, NULL::bigint AS agent_seq,
         cpu AS cpu_percent, mem_total / 1024 AS memory_total_kb, mem_used / 1024 AS memory_used_kb,
         disk_total AS disk_total, disk_used AS disk_used,
         sent::float8 AS net_sent_ps, recv::float8 AS net_recv_ps, bandwidth AS net_bandwidth,
         round(sent / 900.0)::bigint AS packets_sent, round(recv / 700.0)::bigint AS packets_recv,
         (random() < 0.002)::int::bigint AS net_errors, 0::bigint AS net_dropped,
         (90 + m % 60 + 5 * sin(t / 90.0))::int AS process_count, (15 + 30 * random())::int AS collection_ms
    FROM (SELECT m, t, mem_total, disk_total, bandwidth,
                 -- PercentProcessorTime is an integer percentage.
                 least(100, greatest(0, round(base_cpu + 12 * random() - 6 + CASE WHEN random() < 0.01 THEN 60 ELSE 0 END)))::float8 AS cpu,
                 -- Memory in KB (TotalVisibleMemorySize, FreePhysicalMemory) times 1024: drifting, noisy by a few MB.
                 ((mem_total * (0.35 + 0.2 * m_frac + 0.05 * sin(t / 240.0 + m)) + random() * 8388608)::bigint / 1024) * 1024 AS mem_used,
                 (disk_total * (0.3 + 0.4 * m_frac))::bigint + t::bigint * 4096 * (m % 7) AS disk_used,
                 -- BytesSent/ReceivedPersec are integers, noisy around a monitor's level.
                 round(net_base * (0.6 + 0.8 * random())) AS sent, round(net_base * 3 * (0.6 + 0.8 * random())) AS recv
            FROM (SELECT m, (m % 97) / 97.0 AS m_frac, 5 + (m * 37 % 60) AS base_cpu,
                         (ARRAY[8, 16, 32, 64])[1 + m % 4]::bigint * 1073741824 AS mem_total,
                         (ARRAY[128, 256, 512, 1024])[1 + m % 4]::bigint * 1073741824 AS disk_total,
                         1000 + (m * 7919 % 200000) AS net_base,
                         (ARRAY[100000000, 1000000000, 1000000000, 10000000000])[1 + m % 4]::bigint AS bandwidth
                    FROM generate_series($2::int, $3::int) m) mon,
                 generate_series($4::int, $5::int - 1) t) x`;

/** Inserts `monitors` monitors (agent, credential, devices) so metrics rows satisfy the foreign key. */
/**
 * The server's TimescaleDB settings (1-day chunks, compression after 7 days, no retention) applied through
 * `pool`, then its background jobs paused so nothing runs while a bench measures.
 */
export async function applyPausedRetention(pool: pg.Pool): Promise<void> {
  await applyRetention({
    ...RETENTION_DEFAULTS,
    pool,
    mode: 'timescaledb',
    log: silent,
    retentionDays: 0,
    compressAfterDays: 7,
  });
  await pool.query(
    "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs WHERE hypertable_name IN ('metrics', 'metrics_5m', 'metrics_1h')",
  );
}

export async function seedBenchMonitors(c: pg.Client | pg.Pool, monitors: number): Promise<void> {
  await c.query("INSERT INTO agents (name, status) VALUES ('bench', 'active')");
  await c.query(
    "INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ('bench', 'winrm_basic', 'u', 'x', 'k', 5985)",
  );
  await c.query(
    `INSERT INTO devices (agent_id, ip, status) SELECT (SELECT min(id) FROM agents), ('10.0.0.0'::inet + i)::text, 'active' FROM generate_series(1, $1::int) i`,
    [monitors],
  );
  await c.query(`INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled)
                 SELECT id, (SELECT min(id) FROM credential_profiles), 1, 60, true FROM devices ORDER BY id`);
}

/** Bytes per sample of each column of a compressed hypertable's chunks (those over 0.05 B). */
async function compressedColumnBytes(
  q: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>,
  table: string,
  rows: number,
): Promise<Record<string, string>> {
  const chunks = await q(
    `SELECT format('%I.%I', cc.schema_name, cc.table_name) AS t FROM _timescaledb_catalog.chunk c
       JOIN _timescaledb_catalog.chunk cc ON c.compressed_chunk_id = cc.id
       JOIN _timescaledb_catalog.hypertable h ON c.hypertable_id = h.id WHERE h.table_name = $1`,
    [table],
  );
  if (chunks.length === 0) return {};
  const cols = await q(
    'SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
    [chunks[0]!.t],
  );
  const out: Record<string, string> = {};
  for (const { attname } of cols) {
    let bytes = 0;
    for (const { t } of chunks)
      bytes += Number((await q(`SELECT coalesce(sum(pg_column_size("${attname}")), 0) AS b FROM ${t}`))[0]!.b);
    if (bytes / rows >= 0.05) out[String(attname)] = (bytes / rows).toFixed(2);
  }
  return out;
}

export const timed = async <T,>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t = Date.now();
  const r = await fn();
  console.log(`  ${label}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return r;
};

async function main(): Promise<void> {
  const db = await startTestDatabase({ backend: 'timescaledb' });
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const q = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
  try {
    await q('SET synchronous_commit = off');
    // The server's own settings (1-day chunks, compression settings), its jobs paused so nothing
    // runs in the background while this measures.
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    await applyPausedRetention(pool);
    await pool.end();
    await seedBenchMonitors(c, MONITORS);
    const rows = MONITORS * HOURS * 60;
    console.log(
      `${MONITORS.toLocaleString('en')} monitors × ${HOURS} h at 60 s = ${rows.toLocaleString('en')} samples (TimescaleDB ${(await q("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"))[0].extversion}, ${(await q('SHOW server_version'))[0].server_version})`,
    );

    // Plain: the project's definition (0000: unique (monitor_id, time); 0001: index on time).
    await q('CREATE TABLE metrics_plain (LIKE metrics INCLUDING DEFAULTS)');
    await q('SELECT setseed(0.42)');
    await timed('generate into the plain table', () =>
      q(`INSERT INTO metrics_plain (${REALISTIC_COLUMNS}) ${REALISTIC_SAMPLES} ORDER BY 1, 2`, [
        T0,
        1,
        MONITORS,
        0,
        HOURS * 60,
      ]),
    );
    await timed('plain indexes', async () => {
      await q('CREATE UNIQUE INDEX metrics_plain_monitor_time_key ON metrics_plain (monitor_id, time)');
      await q('CREATE INDEX metrics_plain_time_idx ON metrics_plain (time)');
    });
    await q('VACUUM ANALYZE metrics_plain');
    const plain = Number((await q("SELECT pg_total_relation_size('metrics_plain') AS b"))[0].b);
    const plainHeap = Number((await q("SELECT pg_relation_size('metrics_plain') AS b"))[0].b);

    await timed('copy into the hypertable', () =>
      q('INSERT INTO metrics SELECT * FROM metrics_plain ORDER BY time, monitor_id'),
    );
    await q('VACUUM ANALYZE metrics');
    const hyper = Number((await q("SELECT hypertable_size('metrics') AS b"))[0].b);
    const chunks = Number((await q("SELECT count(*) AS n FROM show_chunks('metrics')"))[0].n);

    await timed('refresh the 5-minute and 1-hour aggregates', async () => {
      await q("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
      await q("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
    });
    await timed('compress', () =>
      q("SELECT count(compress_chunk(ch, if_not_compressed => true)) FROM show_chunks('metrics') ch"),
    );
    await q('VACUUM ANALYZE metrics');
    const compressed = Number((await q("SELECT hypertable_size('metrics') AS b"))[0].b);
    const columns = await compressedColumnBytes(q, 'metrics', rows);

    // Baseline in the same run: the same samples in the layout before migration 0008 (memory in bytes,
    // the utilization stored instead of the bandwidth), same hypertable settings, compressed.
    await q('CREATE TABLE metrics_before_0008 (LIKE metrics INCLUDING DEFAULTS)');
    await q("SELECT create_hypertable('metrics_before_0008', 'time', chunk_time_interval => interval '1 day')");
    await q('CREATE UNIQUE INDEX ON metrics_before_0008 (monitor_id, time)');
    await timed('copy into the pre-0008 layout', () =>
      q(`INSERT INTO metrics_before_0008 SELECT time, monitor_id, agent_seq, cpu_percent, memory_total_kb * 1024, memory_used_kb * 1024,
                disk_total, disk_used, net_sent_ps, net_recv_ps,
                round(((net_sent_ps + net_recv_ps) * 8 * 100 * 10000 / net_bandwidth)::numeric) / 10000,
                packets_sent, packets_recv, net_errors, net_dropped, process_count, collection_ms
           FROM metrics_plain ORDER BY time, monitor_id`),
    );
    await q(
      "ALTER TABLE metrics_before_0008 SET (timescaledb.compress, timescaledb.compress_segmentby = 'monitor_id', timescaledb.compress_orderby = 'time DESC')",
    );
    await timed('compress the pre-0008 layout', () =>
      q("SELECT count(compress_chunk(ch)) FROM show_chunks('metrics_before_0008') ch"),
    );
    await q('VACUUM ANALYZE metrics_before_0008');
    const before0008 = Number((await q("SELECT hypertable_size('metrics_before_0008') AS b"))[0].b);
    const columnsBefore = await compressedColumnBytes(q, 'metrics_before_0008', rows);
    const stats = (
      await q(
        "SELECT sum(before_compression_total_bytes)::bigint AS before, sum(after_compression_total_bytes)::bigint AS after FROM chunk_compression_stats('metrics')",
      )
    )[0];
    const aggSize = async (view: string) => {
      const r = (
        await q(
          `SELECT hypertable_size(format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)::regclass) AS b
                            FROM timescaledb_information.continuous_aggregates WHERE view_name = $1`,
          [view],
        )
      )[0];
      return Number(r.b);
    };
    const agg5 = await aggSize('metrics_5m');
    const agg1 = await aggSize('metrics_1h');
    await timed('compress the aggregates', async () => {
      for (const v of ['metrics_5m', 'metrics_1h'])
        await q(`SELECT count(compress_chunk(ch, if_not_compressed => true)) FROM show_chunks('${v}') ch`);
    });
    const agg5c = await aggSize('metrics_5m');
    const agg1c = await aggSize('metrics_1h');
    const per = (b: number, n = rows) => (b / n).toFixed(1);
    const buckets5 = MONITORS * HOURS * 12;
    const buckets1 = MONITORS * HOURS;
    console.log(
      JSON.stringify(
        {
          samples: rows,
          plain_bytes_per_sample: per(plain),
          plain_heap_only: per(plainHeap),
          hypertable_uncompressed_bytes_per_sample: per(hyper),
          hypertable_chunks: chunks,
          hypertable_compressed_bytes_per_sample: per(compressed),
          compressed_by_column: columns,
          baseline_pre_0008_layout_compressed_bytes_per_sample: per(before0008),
          baseline_pre_0008_by_column: columnsBefore,
          ratio_to_pre_0008_layout: (compressed / before0008).toFixed(2),
          compression_ratio_vs_uncompressed: (stats.before / stats.after).toFixed(1),
          target_compressed: '<= 16',
          met: compressed / rows <= 16,
          aggregate_5m: {
            bytes_per_raw_sample: per(agg5),
            compressed_bytes_per_raw_sample: per(agg5c),
            bytes_per_bucket_row: per(agg5, buckets5),
            compressed_per_bucket_row: per(agg5c, buckets5),
          },
          aggregate_1h: {
            bytes_per_raw_sample: per(agg1),
            compressed_bytes_per_raw_sample: per(agg1c),
            bytes_per_bucket_row: per(agg1, buckets1),
            compressed_per_bucket_row: per(agg1c, buckets1),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await c.end();
    await db.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
