import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { forEachBackend, startTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { grafanaSql, type GrafanaQueryContext, type GrafanaVariable, UnknownMacroError } from './grafana-sql.ts';
import { connectAsReader, enableTestReader } from './reader.ts';

/**
 * Every panel's and template variable's SQL of the committed dashboards, expanded as Grafana's
 * PostgreSQL data source expands it (grafana-sql.ts), run as the read-only role against both
 * backends with a month of samples in them. Which source answers where:
 *   - raw samples (grafana_metrics): both backends, Host panels for ranges up to 2 days;
 *   - hourly min/avg/max (grafana_metrics_1h): TimescaleDB reads the continuous aggregate metrics_1h
 *     (shown below: it still answers for raw rows deleted after the refresh), plain PostgreSQL groups
 *     the raw rows by hour; Host panels beyond 2 days, Fleet top-10 tables and the fleet CPU series;
 *   - $__timeGroup: time_bucket() on TimescaleDB (data source timescaledb: true, as provisioned),
 *     floor(extract(epoch ...)) on plain PostgreSQL (timescaledb: false).
 */

const DASHBOARDS = fileURLToPath(new URL('../../../grafana/dashboards/', import.meta.url));

interface Target {
  rawSql: string;
  format: 'table' | 'time_series';
  datasource: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Target[];
  options?: { xField?: string; reduceOptions?: { fields?: string } };
  fieldConfig?: { overrides?: { matcher: { id: string; options: string } }[] };
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: (GrafanaVariable & { query: string | { rawSql: string } })[] };
}

const load = (name: string): Dashboard => JSON.parse(readFileSync(`${DASHBOARDS}${name}.json`, 'utf8'));
const fleet = load('fleet');
const host = load('host');

/** The columns each table-format panel shows (a panel missing here fails: declare what it returns). */
const TABLE_COLUMNS: Record<string, Record<string, string[]>> = {
  'nmslite-fleet': {
    'Agents online': ['online', 'enrolled'],
    'Monitors by state': ['state', 'monitors'],
    'Failing monitors by failure class': ['class', 'monitors'],
    'Agents: spool backlog and lateness': [
      'agent',
      'online',
      'last seen',
      'spool backlog',
      'oldest unsent',
      'lateness',
      'jobs in flight',
      'failures',
      'version',
    ],
    'Agent failures by class (since each agent started)': ['agent', 'class', 'failures'],
    'Devices gone inactive': ['device', 'address', 'agent', 'status', 'since', 'last seen'],
    'Top 10 hosts by CPU': ['host', 'agent', 'peak CPU', 'average CPU'],
    'Top 10 hosts by memory': ['host', 'agent', 'peak memory', 'average memory'],
    'Top 10 hosts by disk': ['host', 'agent', 'peak disk', 'average disk'],
  },
  'nmslite-host': {
    Device: ['host', 'address', 'os', 'status', 'last seen', 'monitors', 'last polled'],
  },
};

const NUMERIC = new Set([20, 21, 23, 700, 701, 1700]); // int8 int2 int4 float4 float8 numeric
const TIME = new Set([1184, 1114, ...NUMERIC]); // timestamptz, timestamp, or epoch seconds

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** Ranges a user picks, with the interval Grafana would compute for a ~1,400 px wide panel. */
const RANGES = [
  { label: 'last 6 hours', spanMs: 6 * HOUR, intervalMs: MINUTE },
  { label: 'last 7 days', spanMs: 7 * 24 * HOUR, intervalMs: 5 * MINUTE },
  { label: 'last 30 days', spanMs: 30 * 24 * HOUR, intervalMs: HOUR },
];

const queries = (d: Dashboard) =>
  d.panels.filter((p) => p.type !== 'row').flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, target: t })));

const epochSeconds = (v: unknown): number => (v instanceof Date ? v.getTime() / 1000 : Number(v));

test('the dashboards declare what every table panel returns and use only the provisioned data source', () => {
  for (const d of [fleet, host]) {
    for (const { panel, target } of queries(d)) {
      assert.equal(target.datasource.uid, 'nmslite-pg', `${panel.title}: data source`);
      assert.ok(['table', 'time_series'].includes(target.format), `${panel.title}: format ${target.format}`);
      if (target.format === 'table') assert.ok(TABLE_COLUMNS[d.uid]![panel.title], `${panel.title}: columns declared`);
      else assert.equal(panel.type, 'timeseries', `${panel.title}: time series format on a time series panel`);
    }
  }
  assert.deepEqual(
    host.templating.list.map((v) => v.name),
    ['agent', 'device'],
  );
  assert.deepEqual(
    fleet.templating.list.map((v) => v.name),
    ['agent'],
  );
});

describe('the macro substitution', () => {
  const ctx = (timescaledb: boolean): GrafanaQueryContext => ({
    from: new Date('2017-04-21T05:01:17Z'),
    to: new Date('2017-04-21T05:06:17Z'),
    intervalMs: 300_000,
    timescaledb,
    values: { agent: ['1', '2'], device: '7' },
    variables: [{ name: 'agent', multi: true, includeAll: true }, { name: 'device' }],
  });

  test("expands Grafana's macros as its documentation shows", () => {
    assert.equal(
      grafanaSql('SELECT $__timeGroupAlias(time, $__interval), 1 WHERE $__timeFilter(time)', ctx(false)),
      `SELECT floor(extract(epoch from time)/300)*300 AS "time", 1 WHERE time BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z'`,
    );
    assert.equal(grafanaSql("$__timeGroup(t, '5m')", ctx(true)), "time_bucket('300.000s',t)");
    assert.equal(
      grafanaSql('$__timeFrom() $__timeTo() $__interval_ms $__unixEpochFilter(e)', ctx(false)),
      "'2017-04-21T05:01:17Z' '2017-04-21T05:06:17Z' 300000 e >= 1492750877 AND e <= 1492751177",
    );
    assert.equal(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's ${VAR} syntax, not a template
      grafanaSql('id IN ($agent) AND d = ${device} AND [[device]] = 7', ctx(false)),
      "id IN ('1','2') AND d = 7 AND 7 = 7",
    );
  });

  test('an unknown macro or variable, or a macro without its arguments, fails', () => {
    for (const sql of [
      'SELECT $__timeFiltr(time)',
      'SELECT $__timeGroupAlias(time)',
      "SELECT $__timeGroup(time, 'often')",
      'SELECT $agnt',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's ${VAR} syntax, not a template
      'SELECT ${devices}',
      'SELECT $__range',
      'SELECT $__timeFilter()',
    ])
      assert.throws(() => grafanaSql(sql, ctx(false)), UnknownMacroError, sql);
  });
});

forEachBackend((backend) => {
  let db: TestDatabase;
  let admin: pg.Client;
  let reader: pg.Client;
  const ids: Record<string, number> = {};
  const now = new Date(Math.floor(Date.now() / MINUTE) * MINUTE);

  before(async () => {
    db = await startTestDatabase({ backend });
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await seed(admin, ids);
    if (backend === 'timescaledb') {
      await admin.query('CALL refresh_continuous_aggregate($1, NULL, NULL)', ['metrics_5m']);
      await admin.query('CALL refresh_continuous_aggregate($1, NULL, NULL)', ['metrics_1h']);
    }
    await enableTestReader(db.url);
    reader = await connectAsReader(db.url);
  });
  after(async () => {
    await reader?.end();
    await admin?.end();
    await db?.stop();
  });

  const context = (d: Dashboard, range: (typeof RANGES)[number], values: Record<string, string | string[]>) => ({
    from: new Date(now.getTime() - range.spanMs),
    to: now,
    intervalMs: range.intervalMs,
    timescaledb: backend === 'timescaledb',
    values,
    variables: d.templating.list,
  });
  /** The dashboard's default: All (its custom all value, a subquery); the state test also picks agents one by one. */
  const fleetValues = (): Record<string, string | string[]> => ({ agent: ['$__all'] });
  const hostValues = () => ({ agent: String(ids.siteA), device: String(ids.db01) });

  async function run(d: Dashboard, panel: Panel, target: Target, ctx: GrafanaQueryContext) {
    const sql = grafanaSql(target.rawSql, ctx);
    let r: pg.QueryResult;
    try {
      r = await reader.query(sql);
    } catch (err) {
      throw new Error(`${d.uid} / ${panel.title}: ${(err as Error).message}\n${sql}`);
    }
    const names = r.fields.map((f) => f.name);
    if (target.format === 'time_series') {
      const time = r.fields.find((f) => f.name === 'time');
      assert.ok(time && TIME.has(time.dataTypeID), `${panel.title}: a time column (${names})`);
      const values = r.fields.filter((f) => f.name !== 'time');
      assert.ok(values.length > 0, `${panel.title}: value columns`);
      for (const f of values)
        assert.ok(NUMERIC.has(f.dataTypeID), `${panel.title}: ${f.name} is numeric (type ${f.dataTypeID})`);
    } else {
      assert.deepEqual(names, TABLE_COLUMNS[d.uid]![panel.title], `${panel.title}: columns`);
    }
    for (const o of panel.fieldConfig?.overrides ?? [])
      if (o.matcher.id === 'byName')
        assert.ok(names.includes(o.matcher.options), `${panel.title}: override for ${o.matcher.options}`);
    if (panel.options?.xField) assert.ok(names.includes(panel.options.xField), `${panel.title}: x field`);
    const fields = panel.options?.reduceOptions?.fields;
    if (fields?.startsWith('/'))
      assert.ok(
        names.some((n) => new RegExp(fields.slice(1, -1)).test(n)),
        `${panel.title}: reduce fields ${fields}`,
      );
    return r;
  }

  test('the template variable queries return __value and __text', async () => {
    for (const [d, values] of [
      [fleet, fleetValues()],
      [host, hostValues()],
    ] as const) {
      for (const v of d.templating.list) {
        const sql = grafanaSql(typeof v.query === 'string' ? v.query : v.query.rawSql, context(d, RANGES[0]!, values));
        const r = await reader.query(sql);
        assert.deepEqual(
          r.fields.map((f) => f.name),
          ['__value', '__text'],
        );
        assert.ok(r.rowCount! > 0, `${d.uid} $${v.name} has choices`);
      }
    }
    const devices = await reader.query(
      grafanaSql(host.templating.list[1]!.query as string, context(host, RANGES[0]!, hostValues())),
    );
    assert.deepEqual(devices.rows.map((r) => r.__text).sort(), ['db-01', 'old-01', 'web-01']);
  });

  for (const range of RANGES) {
    test(`every Fleet panel runs as the reader over the ${range.label} and returns its columns`, async () => {
      for (const { panel, target } of queries(fleet)) {
        const r = await run(fleet, panel, target, context(fleet, range, fleetValues()));
        if (panel.type === 'timeseries') assert.ok(r.rowCount! > 0, `${panel.title}: rows`);
      }
    });

    test(`every Host panel runs as the reader over the ${range.label} and returns its columns`, async () => {
      for (const { panel, target } of queries(host)) {
        const r = await run(host, panel, target, context(host, range, hostValues()));
        if (panel.type !== 'timeseries') continue;
        assert.ok(r.rowCount! > 0, `${panel.title}: rows`);
        const hourly = r.rows.every((row) => epochSeconds(row.time) % 3600 === 0);
        // Up to 2 days: raw samples per interval (5-minute samples here); beyond: the hourly summaries.
        assert.equal(hourly, range.spanMs > 2 * 24 * HOUR, `${panel.title}: ${hourly ? 'hourly' : 'raw'} points`);
      }
    });
  }

  test('the Fleet panels show the seeded state', async () => {
    const byTitle = async (title: string, values = fleetValues()) => {
      const { panel, target } = queries(fleet).find((q) => q.panel.title === title)!;
      return (await run(fleet, panel, target, context(fleet, RANGES[0]!, values))).rows;
    };
    assert.deepEqual(await byTitle('Agents online'), [{ online: '1', enrolled: '2' }]);
    assert.deepEqual(
      Object.fromEntries((await byTitle('Monitors by state')).map((r) => [r.state, Number(r.monitors)])),
      { ok: 2, failing: 1, disabled: 1, 'device inactive': 1, pending: 1 },
    );
    assert.deepEqual(await byTitle('Failing monitors by failure class'), [{ class: 'auth', monitors: '1' }]);
    const agents = await byTitle('Agents: spool backlog and lateness');
    assert.deepEqual(
      agents.map((r) => [r.agent, r.online, r['spool backlog'], r['oldest unsent'], r.lateness, r.failures]),
      [
        ['site-a', true, '120', 64000, 850.5, '6'],
        ['site-b', false, '0', null, 0, '0'],
      ],
    );
    assert.deepEqual(
      (await byTitle('Agent failures by class (since each agent started)')).map((r) => [r.agent, r.class, r.failures]),
      [
        ['site-a', 'auth', '4'],
        ['site-a', 'timeout', '2'],
      ],
    );
    assert.deepEqual(
      (await byTitle('Devices gone inactive')).map((r) => [r.device, r.status]),
      [
        ['old-01', 'inactive'],
        ['10.0.2.12', 'unreachable'],
      ],
    );
    assert.deepEqual(
      (await byTitle('Devices gone inactive', { agent: [String(ids.siteB)] })).map((r) => r.device),
      ['10.0.2.12'],
    );
    assert.deepEqual(await byTitle('Agents online', { agent: [String(ids.siteA), String(ids.siteC)] }), [
      { online: '1', enrolled: '1' },
    ]);
    const top = await byTitle('Top 10 hosts by CPU');
    assert.deepEqual(
      top.map((r) => r.host),
      ['db-01', 'web-01', 'file-01'],
      'ordered by peak CPU',
    );
    assert.ok(top.every((r) => r['peak CPU'] >= r['average CPU'] && r['peak CPU'] <= 100));
    const memory = await byTitle('Top 10 hosts by memory');
    assert.ok(
      memory.every((r) => r['peak memory'] > 40 && r['peak memory'] <= 100),
      JSON.stringify(memory),
    );
  });

  test(
    backend === 'timescaledb'
      ? 'long Host ranges answer from the 1-hour continuous aggregate (raw rows deleted after its refresh still show)'
      : 'long Host ranges answer from the raw rows grouped by hour (deleted raw rows are gone)',
    async () => {
      const { panel, target } = queries(host).find((q) => q.panel.title === 'CPU')!;
      const long = context(host, RANGES[2]!, hostValues());
      const before = (await run(host, panel, target, long)).rowCount!;
      assert.ok(before >= 30 * 24 - 1, `${before} hourly points over 30 days`);
      await admin.query("DELETE FROM metrics WHERE monitor_id = $1 AND time < now() - INTERVAL '10 days'", [
        ids.db01Monitor,
      ]);
      const afterDelete = (await run(host, panel, target, long)).rowCount!;
      if (backend === 'timescaledb') assert.equal(afterDelete, before);
      else assert.ok(afterDelete <= 10 * 24 + 1, `${afterDelete} hourly points left`);
    },
  );
});

/** Three agents, six devices, six monitors in every state, 30 days of 5-minute samples for three hosts. */
async function seed(c: pg.Client, ids: Record<string, number>): Promise<void> {
  const one = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0].id as number;
  const healthA = {
    spool_backlog: 120,
    spool_bytes: 40960,
    jobs_in_flight: 3,
    job_lateness_ms: 850.5,
    errors: { auth: 4, timeout: 2, unreachable: 0 },
    spool_oldest_age_ms: 64000,
  };
  const healthB = { spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {}, spool_oldest_age_ms: null };
  const agent =
    "INSERT INTO agents (name, status, version, hostname, last_seen, enrolled_at, health, enrollment_token_hash) VALUES ($1, $2, '1.4.0', $3, now() - $4::interval, now() - INTERVAL '40 days', $5, $6) RETURNING id";
  ids.siteA = await one(agent, ['site-a', 'active', 'edge-a', '5 seconds', JSON.stringify(healthA), null]);
  ids.siteB = await one(agent, ['site-b', 'active', 'edge-b', '2 hours', JSON.stringify(healthB), null]);
  ids.siteC = await one(agent, ['site-c', 'pending', null, '0 seconds', null, 'token-hash']);
  const device = `INSERT INTO devices (agent_id, ip, hostname, os, status, last_seen, updated_at)
                  VALUES ($1, $2, $3, 'Windows Server 2022', $4, now() - $5::interval, now() - $5::interval) RETURNING id`;
  const web01 = await one(device, [ids.siteA, '10.0.1.10', 'web-01', 'active', '1 minute']);
  ids.db01 = await one(device, [ids.siteA, '10.0.1.11', 'db-01', 'active', '1 minute']);
  const old01 = await one(device, [ids.siteA, '10.0.1.12', 'old-01', 'inactive', '3 hours']);
  const file01 = await one(device, [ids.siteB, '10.0.2.10', 'file-01', 'active', '2 hours']);
  const fresh = await one(device, [ids.siteB, '10.0.2.11', null, 'active', '1 day']);
  await one(device, [ids.siteB, '10.0.2.12', null, 'unreachable', '4 hours']);
  const cred = await one(
    "INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ('svc', 'winrm_ntlm', 'svc-nms', 'sealed', 'k1', 5985) RETURNING id",
  );
  const monitor = `INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled, last_polled, last_attempted, last_error, last_error_class, last_error_at, consecutive_failures)
                   SELECT $1, $2, id, 300, $4, now() - $5::interval, now() - $6::interval, $7, $8, now() - $9::interval, $10 FROM plugins WHERE name = $3 RETURNING id`;
  const web01Monitor = await one(monitor, [
    web01,
    cred,
    'windows-wmi',
    true,
    '1 minute',
    '1 minute',
    null,
    null,
    null,
    0,
  ]);
  await one(monitor, [web01, cred, 'windows-powershell', false, null, null, null, null, null, 0]);
  ids.db01Monitor = await one(monitor, [
    ids.db01,
    cred,
    'windows-wmi',
    true,
    '1 hour',
    '1 minute',
    'the host rejected the credentials',
    'auth',
    '1 minute',
    12,
  ]);
  await one(monitor, [old01, cred, 'windows-wmi', true, '3 hours', '3 hours', 'timed out', 'timeout', '3 hours', 5]);
  const file01Monitor = await one(monitor, [
    file01,
    cred,
    'windows-wmi',
    true,
    '2 minutes',
    '2 minutes',
    null,
    null,
    null,
    0,
  ]);
  await one(monitor, [fresh, cred, 'windows-wmi', true, null, null, null, null, null, 0]);
  // Every 5 minutes for 30 days: a daily CPU wave (db-01 busiest), memory of 16 GiB, disks of 500 GB slowly filling.
  await c.query(
    `INSERT INTO metrics (time, monitor_id, cpu_percent, memory_total, memory_used, disk_total, disk_used, net_sent_ps, net_recv_ps, process_count, collection_ms)
     SELECT t, m.id,
            least(100, greatest(0, m.base + 20 * sin(extract(epoch from t) / 13751) + random() * 5)),
            17179869184, (17179869184 * (0.5 + 0.3 * random()))::bigint,
            500000000000, (200000000000 + extract(epoch from t - (now() - INTERVAL '30 days')) * 10000)::bigint,
            1000000 * random(), 5000000 * random(), 120, 40
       FROM generate_series(date_trunc('minute', now()) - INTERVAL '30 days', date_trunc('minute', now()) - INTERVAL '5 minutes', INTERVAL '5 minutes') t
      CROSS JOIN (VALUES ($1::int, 30.0), ($2::int, 60.0), ($3::int, 10.0)) AS m(id, base)`,
    [web01Monitor, ids.db01Monitor, file01Monitor],
  );
}
