import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, type ResultItem } from '../../../shared/protocol/index.ts';
import type { Log } from '../../log.ts';
import { WriterBusyError } from '../../metrics/write.ts';
import { createResultsHandler } from './results.ts';

const result: ResultItem = {
  seq: 1,
  job_id: 'j1',
  monitor_id: 7,
  time: '2026-12-04T00:00:00.000Z',
  failure: { class: 'timeout', message: 'x' },
};

async function storeFailing(err: Error) {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => lines.push({ level, fields, msg });
  const log = { warn: at('warn'), error: at('error'), info: at('info'), debug: at('debug') } as unknown as Log;
  const handler = createResultsHandler({
    assignments: { ownResults: async (_id, items) => [...items] },
    writer: {
      write: async () => {
        throw err;
      },
    },
    tracker: { observe() {} },
    log,
  });
  const closed: [number, string][] = [];
  const sent: unknown[] = [];
  await handler(
    { agentId: 42, connection: 1, send: (m) => sent.push(m) > 0, close: (code, reason) => closed.push([code, reason]) },
    { type: 'results.batch', results: [result] },
  );
  assert.deepEqual(sent, [], 'nothing is acknowledged');
  assert.deepEqual(closed, [[CloseCode.serverError, 'results could not be stored; resend']]);
  return lines;
}

test('a batch the busy metrics writer refuses is a warning naming the agent; other failures are errors; both close to resend', async () => {
  const busy = await storeFailing(new WriterBusyError('queue full'));
  assert.deepEqual(
    busy.map((l) => [l.level, l.fields.agent_id]),
    [['warn', 42]],
  );
  const broken = await storeFailing(new Error('connection terminated'));
  assert.deepEqual(
    broken.map((l) => [l.level, l.fields.agent_id, l.fields.err]),
    [['error', 42, 'connection terminated']],
  );
});
