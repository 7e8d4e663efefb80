import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { httpsRequest, startTestServer, type TestServer } from '../../helpers/server.ts';
import { skipUnlessRequired } from '../../helpers/skip.ts';
import { connectRaw, enrollRaw, type RawAgent } from '../hub/raw-agent.ts';

const PYTHON = '/usr/bin/python3';
const noParser =
  spawnSync(PYTHON, ['-c', 'import prometheus_client'], { stdio: 'ignore' }).status === 0
    ? undefined
    : 'needs the Prometheus exposition-format parser: apt-get install -y python3-prometheus-client';
const skip = skipUnlessRequired(noParser);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number | string;
}
interface Family {
  name: string;
  type: string;
  samples: Sample[];
}

/** The official Python client's parser (prometheus_client.parser), not ours: what a Prometheus scrape would accept. */
const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({'name': f.name, 'type': f.type, 'samples': [
        {'name': s.name, 'labels': s.labels, 'value': s.value if math.isfinite(s.value) else str(s.value)}
        for s in f.samples]})
print(json.dumps(out))
`;
const parse = (text: string): Family[] =>
  JSON.parse(execFileSync(PYTHON, ['-c', PARSE], { input: text, encoding: 'utf8' })) as Family[];

const samplesOf = (families: Family[], name: string, labels: Record<string, string> = {}): Sample[] =>
  families
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const seriesValue = (families: Family[], name: string, labels: Record<string, string> = {}): number | undefined => {
  const found = samplesOf(families, name, labels);
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} is one series (got ${found.length})`);
  return found[0] === undefined ? undefined : Number(found[0].value);
};

const TOKEN = `prom-${randomBytes(24).toString('hex')}`;
const metrics = {
  cpu_percent: 12.5,
  memory_total: 8_000,
  memory_used: 2_000,
  disk_total: 100_000,
  disk_used: 40_000,
  net_sent_ps: 1,
  net_recv_ps: 2,
  net_utilization: 0.5,
  packets_sent: 3,
  packets_recv: 4,
  net_errors: 0,
  net_dropped: 0,
  process_count: 90,
  collection_ms: 15,
};
const health = (o: Record<string, unknown> = {}) => ({
  spool_backlog: 0,
  jobs_in_flight: 0,
  job_lateness_ms: 0,
  errors: {},
  ...o,
});

describe('Prometheus metrics at GET /metrics', { skip }, () => {
  let s: TestServer;
  let agent: RawAgent;
  let agentId: number;
  let monitorId: number;
  const scrape = (authorization?: string) =>
    httpsRequest('GET', `${s.url}/metrics`, authorization === undefined ? {} : { authorization });
  const scrapeParsed = async (): Promise<Family[]> => {
    const r = await scrape(`Bearer ${TOKEN}`);
    assert.equal(r.status, 200, `scrape: ${JSON.stringify(r.body)}`);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parse(r.body as string);
  };
  /** Heartbeat health reaches the recorder asynchronously to the ack: scrape until `ok`. */
  const scrapeUntil = async (ok: (f: Family[]) => boolean, what: string): Promise<Family[]> => {
    for (let i = 0; i < 50; i++) {
      const f = await scrapeParsed();
      if (ok(f)) return f;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`never scraped: ${what}`);
  };

  before(async () => {
    s = await startTestServer({ prometheus: { token: TOKEN }, polling: { grace_s: 3600 } });
    const id = await enrollRaw(s, 'prom-site-a');
    agentId = id.agent_id;
    const cred = await s.api('POST', '/api/v1/credential-profiles', {
      name: 'prom-cred',
      type: 'winrm_ntlm',
      username: 'u',
      password: 'p',
    });
    const dev = await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: '10.91.0.1' });
    const mon = await s.api('POST', '/api/v1/monitors', {
      device_id: dev.body.id,
      credential_profile_id: cred.body.id,
      plugin_id: 1,
      polling_interval: 60,
    });
    assert.equal(mon.status, 201, JSON.stringify(mon.body));
    monitorId = mon.body.id;
    agent = await connectRaw(s, id);
    await agent.next('schedule.full', (m) => !m.more);
  });
  after(async () => {
    agent?.close();
    await s?.stop();
  });

  test('a scrape with the token parses with the official parser and counts what the agent sent and the server stored', async () => {
    const base = Date.now() - 3_600_000;
    const results = Array.from({ length: 25 }, (_, i) => ({
      seq: i + 1,
      job_id: `p${i}`,
      monitor_id: monitorId,
      time: new Date(base + i * 60_000).toISOString(),
      attempts: 1,
      metrics,
    }));
    agent.send({ type: 'results.batch', results: results.slice(0, 20) });
    await agent.next('results.ack', (m) => m.seqs.includes(20));
    // A failure counts as stored too (it updates the monitor's state); it inserts no metric row.
    agent.send({
      type: 'results.batch',
      results: [
        ...results.slice(20),
        {
          seq: 26,
          job_id: 'p-fail',
          monitor_id: monitorId,
          time: new Date(base + 30 * 60_000).toISOString(),
          attempts: 2,
          failure: { class: 'timeout', message: 'no answer' },
        },
      ],
    });
    await agent.next('results.ack', (m) => m.seqs.includes(26));
    agent.send({
      type: 'heartbeat',
      sent_at: Date.now(),
      health: health({
        spool_backlog: 7,
        spool_bytes: 4096,
        spool_oldest_age_ms: 42_000,
        job_lateness_ms: 1_500,
        jobs_in_flight: 2,
        errors: { timeout: 3, auth: 1 },
      }),
    });
    await agent.next('heartbeat.ack');
    assert.equal((await s.api('GET', `/api/v1/agents/${agentId}`)).status, 200);
    assert.equal((await s.api('GET', '/api/v1/no-such-thing/123')).status, 404);

    const f = await scrapeUntil(
      (x) => seriesValue(x, 'nmslite_agent_spool_backlog', { agent: 'prom-site-a' }) === 7,
      "agent prom-site-a's backlog",
    );
    const rows = Number(
      (await s.server.pool.query('SELECT count(*) AS n FROM metrics WHERE monitor_id = $1', [monitorId])).rows[0].n,
    );
    assert.equal(rows, 25);
    assert.equal(seriesValue(f, 'nmslite_results_received_total'), 26);
    assert.equal(seriesValue(f, 'nmslite_results_stored_total'), 26, 'every result received was stored');
    assert.equal(seriesValue(f, 'nmslite_metric_rows_inserted_total'), rows, 'rows inserted = rows in the table');
    assert.ok((seriesValue(f, 'nmslite_writer_batch_duration_seconds_count', { outcome: 'stored' }) ?? 0) >= 2);
    assert.ok((seriesValue(f, 'nmslite_writer_batch_duration_seconds_sum', { outcome: 'stored' }) ?? 0) > 0);
    assert.equal(seriesValue(f, 'nmslite_writer_queue_depth'), 0);
    assert.equal(seriesValue(f, 'nmslite_agents_connected'), 1);

    const a = { agent: 'prom-site-a' };
    assert.equal(seriesValue(f, 'nmslite_agent_up', a), 1);
    assert.equal(seriesValue(f, 'nmslite_agent_spool_bytes', a), 4096);
    assert.equal(seriesValue(f, 'nmslite_agent_spool_oldest_unsent_age_seconds', a), 42);
    assert.equal(seriesValue(f, 'nmslite_agent_job_lateness_seconds', a), 1.5);
    assert.equal(seriesValue(f, 'nmslite_agent_jobs_in_flight', a), 2);
    assert.equal(seriesValue(f, 'nmslite_agent_failures_total', { ...a, class: 'timeout' }), 3);
    assert.equal(seriesValue(f, 'nmslite_agent_failures_total', { ...a, class: 'auth' }), 1);
    assert.equal(f.find((x) => x.name === 'nmslite_agent_failures')?.type, 'counter');

    // The route template, never the raw URL; an unknown path is one bounded label.
    const route = { method: 'GET', route: '/api/v1/agents/{id}', status: '200' };
    assert.ok((seriesValue(f, 'nmslite_http_requests_total', route) ?? 0) >= 1);
    assert.ok((seriesValue(f, 'nmslite_http_request_duration_seconds_count', route) ?? 0) >= 1);
    assert.ok(samplesOf(f, 'nmslite_http_request_duration_seconds_bucket', { ...route, le: '+Inf' }).length === 1);
    assert.equal(f.find((x) => x.name === 'nmslite_http_request_duration_seconds')?.type, 'histogram');
    assert.ok((seriesValue(f, 'nmslite_http_requests_total', { route: '(unmatched)', status: '404' }) ?? 0) >= 1);
    const routes = new Set(samplesOf(f, 'nmslite_http_requests_total').map((x) => x.labels.route));
    assert.ok(
      ![...routes].some((r) => /\/\d+(\/|$)/.test(r ?? '') || r?.includes('no-such-thing')),
      [...routes].join(),
    );

    // prom-client's default Node process metrics.
    assert.ok((seriesValue(f, 'process_cpu_user_seconds_total') ?? -1) >= 0);
    assert.ok((seriesValue(f, 'process_resident_memory_bytes') ?? 0) > 0);
    assert.ok(f.some((x) => x.name === 'nodejs_eventloop_lag_seconds'));
  });

  test("each agent is labelled by its current name; a renamed agent's label follows and a deleted agent's labels go", async () => {
    const idB = await enrollRaw(s, 'prom-site-b');
    const b = await connectRaw(s, idB);
    b.send({ type: 'heartbeat', sent_at: Date.now(), health: health({ spool_backlog: 11 }) });
    await b.next('heartbeat.ack');
    let f = await scrapeUntil(
      (x) => seriesValue(x, 'nmslite_agent_spool_backlog', { agent: 'prom-site-b' }) === 11,
      'the second agent',
    );
    assert.equal(seriesValue(f, 'nmslite_agents_connected'), 2);

    const renamed = await s.api('PUT', `/api/v1/agents/${idB.agent_id}`, { name: 'prom-site-b2' });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    f = await scrapeParsed();
    assert.equal(seriesValue(f, 'nmslite_agent_spool_backlog', { agent: 'prom-site-b2' }), 11);
    assert.equal(seriesValue(f, 'nmslite_agent_spool_backlog', { agent: 'prom-site-b' }), undefined);

    assert.equal((await s.api('DELETE', `/api/v1/agents/${idB.agent_id}`)).status, 204);
    await b.closed;
    f = await scrapeUntil((x) => seriesValue(x, 'nmslite_agents_connected') === 1, 'one agent connected');
    const agents = new Set(samplesOf(f, 'nmslite_agent_spool_backlog').map((x) => x.labels.agent));
    assert.deepEqual([...agents], ['prom-site-a']);
    assert.equal(samplesOf(f, 'nmslite_agent_failures_total', { agent: 'prom-site-b2' }).length, 0);
  });

  test('without the token, with a wrong one or with the admin JWT the scrape is refused with 401', async () => {
    for (const authorization of [
      undefined,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      'Bearer ',
      TOKEN,
      `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
      `Bearer ${s.token}`,
    ]) {
      const r = await scrape(authorization);
      assert.equal(r.status, 401, `${authorization?.slice(0, 12)}: ${r.status}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="metrics"');
      assert.equal(r.body.error.code, 'UNAUTHORIZED');
      assert.ok(!JSON.stringify(r.body).includes(TOKEN));
    }
    assert.equal((await scrape(`bearer ${TOKEN}`)).status, 200, 'the scheme is case-insensitive');
    const post = await httpsRequest('POST', `${s.url}/metrics`, { authorization: `Bearer ${TOKEN}` }, '');
    assert.equal(post.status, 405);
    assert.ok(!s.logs.some((l) => l.includes(TOKEN)), 'the token is never logged');
  });
});

test('GET /metrics is 404 when metrics export is not configured', async () => {
  const s = await startTestServer();
  try {
    const r = await httpsRequest('GET', `${s.url}/metrics`, { authorization: `Bearer ${s.token}` });
    assert.equal(r.status, 404);
    const off = await startTestServer({ prometheus: { enabled: false, token: TOKEN } });
    try {
      assert.equal((await httpsRequest('GET', `${off.url}/metrics`, { authorization: `Bearer ${TOKEN}` })).status, 404);
    } finally {
      await off.stop();
    }
  } finally {
    await s.stop();
  }
});
