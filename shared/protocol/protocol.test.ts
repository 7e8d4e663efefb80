import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentMessage, parseServerMessage, PROTOCOL_VERSION } from './index.ts';

const sample = {
  cpu_percent: 12.5,
  memory_total: 8 * 2 ** 30,
  memory_used: 2 ** 30,
  disk_total: 10 ** 11,
  disk_used: 10 ** 10,
  net_sent_ps: 1000,
  net_recv_ps: 2000,
  net_utilization: 0.1,
  packets_sent: 5,
  packets_recv: 6,
  net_errors: 0,
  net_dropped: 0,
  process_count: 80,
  collection_ms: 12,
};

test('a results batch with metrics and a failure parses', () => {
  const r = parseAgentMessage(
    JSON.stringify({
      type: 'results.batch',
      results: [
        { seq: 1, job_id: 'j1', monitor_id: 3, time: '2026-11-23T10:00:00.000Z', metrics: sample },
        {
          seq: 2,
          job_id: 'j2',
          monitor_id: 4,
          time: '2026-11-23T10:00:00.000Z',
          failure: { class: 'auth', message: 'rejected' },
        },
      ],
    }),
  );
  assert.equal(r.ok, true);
});

test('malformed, unknown and oversized messages are refused with a reason', () => {
  const cases: [string, RegExp][] = [
    ['{not json', /not JSON/],
    [JSON.stringify({ type: 'nope' }), /invalid message/],
    [JSON.stringify({ type: 'results.batch', results: [] }), /results/],
    [
      JSON.stringify({
        type: 'results.batch',
        results: [{ seq: -1, job_id: 'x', monitor_id: 1, time: 'now', metrics: sample }],
      }),
      /invalid/,
    ],
    ['x'.repeat(5 * 1024 * 1024), /too large/],
  ];
  for (const [raw, reason] of cases) {
    const r = parseAgentMessage(raw);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  }
});

test('server messages parse on the agent side', () => {
  const r = parseServerMessage(
    JSON.stringify({
      type: 'welcome',
      agent_id: 1,
      protocol: PROTOCOL_VERSION,
      server_time: 1,
      echo: 1,
      heartbeat_ms: 5000,
    }),
  );
  assert.equal(r.ok, true);
  assert.equal(parseServerMessage(JSON.stringify({ type: 'hello' })).ok, false);
});
