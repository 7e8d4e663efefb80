import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { forEachBackend, withTestBackend } from '../../helpers/db.ts';
import { applyRetention } from '../../../server/metrics/retention.ts';
import { RETENTION_DEFAULTS } from '../../helpers/config-defaults.ts';

const T0 = Date.parse('2026-11-22T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** What the refresh policies do in the background, now (retried while a policy run holds the range). */
async function refreshAggregates(db: pg.Client): Promise<void> {
  for (const view of ['metrics_5m', 'metrics_1h']) {
    for (let attempt = 0; ; attempt++) {
      try {
        await db.query('CALL refresh_continuous_aggregate($1, NULL, NULL)', [view]);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '55P03' || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

forEachBackend((backend) => {
  const ts = backend === 'timescaledb';
  let s: TestServer;
  let db: pg.Client;
  let monitorId: number;
  let noisyId: number;
  const history = (id: number, from: number, to: number, bucket?: string) =>
    s.api(
      'GET',
      `/api/v1/monitors/${id}/metrics/history?from=${iso(from)}&to=${iso(to)}${bucket ? `&bucket=${bucket}` : ''}`,
    );

  before(async () => {
    s = await withTestBackend(backend, () => startTestServer({ metrics: { max_raw_points: 500, latest_cache_ms: 0 } }));
    assert.equal(s.server.storageMode, ts ? 'timescaledb' : 'plain');
    db = new pg.Client({ connectionString: s.dbUrl });
    await db.connect();
    const agent = (await s.api('POST', '/api/v1/agents', { name: 'hist' })).body;
    const cred = (
      await s.api('POST', '/api/v1/credential-profiles', {
        name: 'hist',
        type: 'winrm_basic',
        username: 'u',
        password: 'p',
      })
    ).body;
    const monitor = async (ip: string) => {
      const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agent.agent.id, ip })).body;
      return (
        await s.api('POST', '/api/v1/monitors', {
          device_id: dev.id,
          credential_profile_id: cred.id,
          plugin_id: 1,
          enabled: false,
        })
      ).body.id as number;
    };
    monitorId = await monitor('10.50.0.1');
    noisyId = await monitor('10.50.0.2');
    // One day at one sample a minute: cpu climbs 0..99 within each 100 minutes; memory half used.
    await db.query(
      `INSERT INTO metrics (time, monitor_id, cpu_percent, memory_total, memory_used, disk_total, disk_used, net_sent_ps, net_recv_ps, net_utilization, process_count, collection_ms)
       SELECT to_timestamp($2 / 1000.0) + make_interval(mins => i), $1, i % 100, 8000000000, 4000000000, 100000000000, 25000000000, 1000, 2000, 1.5, 100 + i % 10, 5
         FROM generate_series(0, 1439) AS i`,
      [monitorId, T0],
    );
    // Four days of realistic values for the second monitor: noisy cpu with a 100 % spike every
    // 7 hours, slowly growing memory and disk, noisy rates, counters that only go up, a few nulls.
    await db.query(
      `INSERT INTO metrics (time, monitor_id, cpu_percent, memory_total, memory_used, disk_total, disk_used, net_sent_ps, net_recv_ps, net_utilization,
                            packets_sent, packets_recv, net_errors, net_dropped, process_count, collection_ms)
       SELECT to_timestamp($2 / 1000.0) + make_interval(mins => i), $1,
              CASE WHEN i % 420 = 0 THEN 100 WHEN i % 97 = 0 THEN NULL ELSE 20 + 15 * sin(i / 30.0) + (i * 7919 % 113) / 10.0 END,
              16000000000, 6000000000 + i * 100000 + (i * 31 % 1000) * 1000, 500000000000, 200000000000 + i * 50000,
              1000 + (i * 104729 % 5000), 3000 + (i * 7907 % 9000) / 3.0, (i * 13 % 400) / 100.0,
              i * 60, i * 120, i / 500, i / 900, 100 + i % 17, 3 + i % 5
         FROM generate_series(0, 4 * 1440 - 1) AS i`,
      [noisyId, T0],
    );
    // Written behind the aggregates' watermarks (the policies ran at start): until refreshed, history
    // would answer from the raw table (see the late-samples test).
    if (ts) await refreshAggregates(db);
  });
  after(async () => {
    await db?.end();
    await s?.stop();
  });

  test('latest metrics derive memory and disk percentages at query time (the GET /monitors/:id/metrics shape)', async () => {
    const r = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.body.timestamp, iso(T0 + 1439 * 60_000));
    assert.equal(r.body.memory.usage_percent, 50);
    assert.equal(r.body.disk.usage_percent, 25);
    assert.equal(r.body.cpu.usage_percent, 39);
    assert.equal(r.body.network.utilization_percent, 1.5);
    assert.equal(r.body.process_count, 109);
  });

  test('raw history returns the samples in range; too wide a raw range is a 400 that suggests a bucket', async () => {
    const raw = await history(monitorId, T0, T0 + 60 * 60_000);
    assert.equal(raw.status, 200);
    assert.equal(raw.body.data.length, 60);
    assert.equal(raw.body.bucket, null);
    assert.equal(raw.body.source, 'raw');
    const wide = await history(monitorId, T0, T0 + 86400_000);
    assert.equal(wide.status, 400);
    assert.equal(wide.body.error.details.field, 'bucket');
    assert.match(wide.body.error.message, /bucket=5m/);
  });

  test(`bucketed history gives the average, min and max per bucket${ts ? ', from the 5-minute aggregate' : ' from the raw table'}`, async () => {
    const r = await history(monitorId, T0, T0 + 86400_000, '5m');
    assert.equal(r.status, 200);
    assert.equal(r.body.source, ts ? '5m' : 'raw');
    assert.equal(r.body.data.length, 288);
    const [b0, b1] = r.body.data;
    assert.equal(b0.timestamp, iso(T0));
    assert.equal(b0.cpu.usage_percent, 2, 'mean of 0..4');
    assert.equal(b0.min.cpu.usage_percent, 0);
    assert.equal(b0.max.cpu.usage_percent, 4);
    assert.equal(b0.samples, 5);
    assert.equal(b1.cpu.usage_percent, 7, 'mean of 5..9');
    assert.equal(b0.memory.usage_percent, 50);
    assert.deepEqual(b0.max.memory, { used_bytes: 4000000000, usage_percent: 50 });
    const bad = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics/history?from=${iso(T0)}&bucket=5x`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details.field, 'bucket');
  });

  test('a 100 % CPU peak stays visible as the max of its bucket, beside a far lower average', async () => {
    const r = await history(noisyId, T0, T0 + 86400_000, '1d');
    assert.equal(r.status, 200);
    assert.equal(r.body.source, ts ? '1h' : 'raw');
    assert.equal(r.body.data.length, 1);
    assert.equal(r.body.data[0].max.cpu.usage_percent, 100);
    assert.ok(r.body.data[0].cpu.usage_percent < 40, `average ${r.body.data[0].cpu.usage_percent}`);
    assert.equal(r.body.data[0].samples, 1440);
  });

  test("multi-day buckets start where TimescaleDB's time_bucket starts them (Mondays, origin 2000-01-03)", async () => {
    // T0 is Sunday 2026-11-22: its 7-day bucket is the week from Monday 2026-11-16.
    const r = await history(monitorId, T0, T0 + 86400_000, '7d');
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.data.map((p: { timestamp: string }) => p.timestamp),
      ['2026-11-16T00:00:00.000Z'],
      'one bucket, starting Monday',
    );
  });

  test('the same history through tRPC', async () => {
    const input = encodeURIComponent(
      JSON.stringify({ id: monitorId, from: iso(T0), to: iso(T0 + 3600_000), bucket: '1h' }),
    );
    const r = await s.api('GET', `/trpc/monitors.metricsHistory?input=${input}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.result.data.source, ts ? '1h' : 'raw');
    assert.equal(r.body.result.data.data.length, 1);
    assert.equal(r.body.result.data.data[0].cpu.usage_percent, 29.5, 'mean of 0..59');
  });

  test(`history equals a plain SQL computation over the raw rows (avg, min, max per bucket)${ts ? ' over compressed chunks and aggregates, at unaligned edges' : ''}`, async () => {
    if (ts) {
      // Compress what is old enough, raw and aggregates.
      await refreshAggregates(db);
      for (const rel of ['metrics', 'metrics_5m', 'metrics_1h']) {
        await db.query(
          'SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks($1::regclass, older_than => $2::timestamptz) c',
          [rel, iso(T0 + 2 * 86400_000)],
        );
      }
      const c = await db.query(
        "SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics' AND is_compressed",
      );
      assert.ok(c.rows[0].n >= 2, 'raw chunks are compressed');
    }
    const cases: [string, number, number, number][] = [
      ['1h', T0 + 17 * 60_000, T0 + 3 * 86400_000 + 41 * 60_000, 3600],
      ['15m', T0 + 86400_000 + 7 * 60_000, T0 + 3 * 86400_000, 900],
      ['6h', T0, T0 + 4 * 86400_000, 21600],
      ['5m', T0 + 2 * 86400_000 - 3600_000 + 60_000, T0 + 2 * 86400_000 + 3600_000, 300],
    ];
    for (const [bucket, from, to, secs] of cases) {
      const r = await history(noisyId, from, to, bucket);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      if (ts) assert.equal(r.body.source, secs % 3600 === 0 ? '1h' : '5m', bucket);
      const want = await db.query(
        `SELECT date_bin(make_interval(secs => $4), time, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS t, count(*)::int AS n,
                avg(cpu_percent) AS cpu, min(cpu_percent) AS cpu_min, max(cpu_percent) AS cpu_max,
                avg(memory_used) AS mem, min(memory_used) AS mem_min, max(memory_used) AS mem_max, max(disk_used) AS disk_max,
                avg(net_sent_ps) AS sent, min(net_sent_ps) AS sent_min, max(net_recv_ps) AS recv_max, max(packets_sent) AS packets_sent, max(net_errors) AS errors
           FROM metrics WHERE monitor_id = $1 AND time >= $2 AND time < $3 GROUP BY 1 ORDER BY 1`,
        [noisyId, new Date(from), new Date(to), secs],
      );
      assert.equal(r.body.data.length, want.rows.length, `${bucket}: as many buckets`);
      const close = (a: number | null, b: unknown, what: string) => {
        assert.ok(a !== null && Math.abs(a - Number(b)) <= 0.01 + 1e-9, `${bucket} ${what}: ${a} vs ${b}`);
      };
      want.rows.forEach((w, i) => {
        const p = r.body.data[i];
        assert.equal(p.timestamp, w.t.toISOString());
        assert.equal(p.samples, w.n);
        close(p.cpu.usage_percent, w.cpu, `cpu avg @${p.timestamp}`);
        close(p.min.cpu.usage_percent, w.cpu_min, 'cpu min');
        close(p.max.cpu.usage_percent, w.cpu_max, 'cpu max');
        assert.ok(
          Math.abs(p.memory.used_bytes - Number(w.mem)) <= 0.5,
          `${bucket} memory avg ${p.memory.used_bytes} vs ${w.mem}`,
        );
        assert.equal(p.min.memory.used_bytes, Number(w.mem_min));
        assert.equal(p.max.memory.used_bytes, Number(w.mem_max));
        assert.equal(p.max.disk.used_bytes, Number(w.disk_max));
        close(p.network.bytes_sent_per_sec, w.sent, 'sent avg');
        close(p.min.network.bytes_sent_per_sec, w.sent_min, 'sent min');
        close(p.max.network.bytes_recv_per_sec, w.recv_max, 'recv max');
        assert.equal(p.network.packets_sent, Number(w.packets_sent));
        assert.equal(p.network.errors, Number(w.errors));
      });
    }
  });

  if (ts) {
    test('real-time aggregation: samples newer than the last refresh are in the aggregates at once', async () => {
      // Two hours ahead: past both watermarks (a refresh materializes up to the current bucket).
      const hour = (Math.floor(Date.now() / 3600_000) + 2) * 3600_000;
      await refreshAggregates(db);
      // Samples after the refresh: not materialized anywhere yet.
      await db.query(
        'INSERT INTO metrics (time, monitor_id, cpu_percent) SELECT to_timestamp($2 / 1000.0) + make_interval(secs => i * 10), $1, 50 + i FROM generate_series(0, 5) i',
        [monitorId, hour],
      );
      const r5 = await history(monitorId, hour, hour + 3600_000, '5m');
      assert.equal(r5.body.source, '5m');
      assert.equal(r5.body.data[0].samples, 6);
      assert.equal(r5.body.data[0].max.cpu.usage_percent, 55);
      const r1 = await history(monitorId, hour, hour + 3600_000, '1h');
      assert.equal(r1.body.source, '1h');
      assert.equal(r1.body.data[0].samples, 6);
      assert.equal(r1.body.data[0].cpu.usage_percent, 52.5);
      await db.query('DELETE FROM metrics WHERE monitor_id = $1 AND time >= to_timestamp($2 / 1000.0)', [
        monitorId,
        hour,
      ]);
    });
  }

  if (ts) {
    test('late samples (written behind the watermark, not yet refreshed) are never missing: history reads a finer source until the refresh', async () => {
      await refreshAggregates(db);
      const day = T0 + 86400_000;
      const before = await history(monitorId, day, day + 86400_000, '1h');
      assert.equal(before.body.source, '1h');
      assert.equal(before.body.data.length, 0, 'no samples that day yet');
      // An agent's spool, sent after an outage: a day that the aggregates have already passed.
      await db.query(
        'INSERT INTO metrics (time, monitor_id, cpu_percent) SELECT to_timestamp($2 / 1000.0) + make_interval(mins => i), $1, 70 FROM generate_series(0, 1439) i',
        [monitorId, day],
      );
      const late = await history(monitorId, day, day + 86400_000, '1h');
      assert.equal(late.body.source, 'raw', 'both aggregates are stale there');
      assert.equal(late.body.data.length, 24);
      assert.equal(late.body.data[5].samples, 60);
      await refreshAggregates(db);
      const after = await history(monitorId, day, day + 86400_000, '1h');
      assert.equal(after.body.source, '1h');
      assert.deepEqual(after.body.data, late.body.data, 'the same answer from the aggregate once refreshed');
      await db.query(
        "DELETE FROM metrics WHERE monitor_id = $1 AND time >= to_timestamp($2 / 1000.0) AND time < to_timestamp($2 / 1000.0) + interval '1 day'",
        [monitorId, day],
      );
      await refreshAggregates(db);
    });
  }

  if (!ts) {
    test('retention deletes metrics older than the configured days on plain PostgreSQL, and nothing by default', async () => {
      const pool = new pg.Pool({ connectionString: s.dbUrl });
      const log = s.server.log;
      const count = async () =>
        Number((await db.query('SELECT count(*) AS n FROM metrics WHERE monitor_id = $1', [monitorId])).rows[0].n);
      await db.query(
        "INSERT INTO metrics (time, monitor_id, cpu_percent) VALUES (now() - interval '40 days', $1, 1), (now(), $1, 2)",
        [monitorId],
      );
      const before = await count();
      (
        await applyRetention({
          ...RETENTION_DEFAULTS,
          pool,
          mode: 'plain',
          log,
          retentionDays: 0,
          compressAfterDays: 7,
        })
      )();
      assert.equal(await count(), before, 'keep forever by default');
      (
        await applyRetention({
          ...RETENTION_DEFAULTS,
          pool,
          mode: 'plain',
          log,
          retentionDays: 30,
          compressAfterDays: 7,
        })
      )();
      assert.equal(await count(), before - 1, 'only the 40-day-old sample is gone');
      await pool.end();
    });
  }
});
