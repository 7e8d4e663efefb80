import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { applyRetention } from './retention.ts';

// TimescaleDB cannot run on this machine (no extension in embedded PostgreSQL): these check the
// statements sent in timescaledb mode against a recording pool, not TimescaleDB's behaviour.
function recordingPool(compressionEnabled: boolean) {
  const sql: string[] = [];
  const pool = {
    query: async (text: string, params?: unknown[]) => {
      sql.push(params ? `${text} ${JSON.stringify(params)}` : text);
      return { rows: text.includes('timescaledb_information.hypertables') ? [{ compression_enabled: compressionEnabled }] : [] };
    },
  } as unknown as pg.Pool;
  return { pool, sql };
}
const silent = { info() {}, warn() {}, error() {}, debug() {} } as never;

test('timescaledb: a changed or disabled compression setting replaces the policy instead of keeping the old one', async () => {
  const changed = recordingPool(true);
  await applyRetention({ pool: changed.pool, mode: 'timescaledb', log: silent, retentionDays: 0, compressAfterDays: 14 });
  const removeAt = changed.sql.findIndex((q) => q.includes('remove_compression_policy'));
  const addAt = changed.sql.findIndex((q) => q.includes('add_compression_policy'));
  assert.ok(removeAt >= 0 && addAt > removeAt, `removed, then added: ${changed.sql.join(' | ')}`);
  assert.ok(changed.sql[addAt]!.includes('[14]') && !changed.sql[addAt]!.includes('if_not_exists'), 'with the new interval');
  assert.ok(!changed.sql.some((q) => q.startsWith('ALTER TABLE')), 'compression already on: no ALTER (refused by TimescaleDB < 2.14 once chunks are compressed)');

  const off = recordingPool(true);
  await applyRetention({ pool: off.pool, mode: 'timescaledb', log: silent, retentionDays: 0, compressAfterDays: 0 });
  assert.ok(off.sql.some((q) => q.includes('remove_compression_policy')) && !off.sql.some((q) => q.includes('add_compression_policy')), '0 turns it off');

  const fresh = recordingPool(false);
  await applyRetention({ pool: fresh.pool, mode: 'timescaledb', log: silent, retentionDays: 30, compressAfterDays: 7 });
  assert.ok(fresh.sql.some((q) => q.startsWith('ALTER TABLE metrics SET (timescaledb.compress')), 'a fresh hypertable gets compression enabled');
});
