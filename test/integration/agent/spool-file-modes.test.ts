import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDiskSpool } from '../../../agent/spool/disk-spool.ts';
import { describeResult } from '../../../agent/spool/spool.ts';

const modes = (dir: string) =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, (statSync(join(dir, f)).mode & 0o777).toString(8)]));

test('every spool file is readable by its owner only, acks.log and files an older version left included', async () => {
  const home = mkdtempSync('/tmp/nmslite-spool-modes-');
  const dir = join(home, 'spool');
  const previous = process.umask(0o022);
  try {
    // An older agent left its spool folder and acks.log world-readable.
    const first = openDiskSpool<{ monitor_id: number; time: string }>({
      dir,
      capBytes: 64 * 1024,
      segmentBytes: 4096,
      describe: describeResult,
      flushMs: 1,
    });
    await first.close();
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'acks.log'), '', { mode: 0o644 });
    chmodSync(join(dir, 'acks.log'), 0o644);

    const spool = openDiskSpool<{ monitor_id: number; time: string }>({
      dir,
      capBytes: 64 * 1024,
      segmentBytes: 4096,
      describe: describeResult,
      flushMs: 1,
    });
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const seqs = await spool.append(
      Array.from({ length: 200 }, (_, i) => ({
        monitor_id: 1 + (i % 3),
        time: new Date(t0 + i * 60_000).toISOString(),
      })),
    );
    const sent = await spool.next(120);
    await spool.ack(sent.map((r) => r.seq));
    assert.ok(seqs.length === 200);
    const during = modes(dir);
    await spool.close();
    const after = modes(dir);
    assert.ok(Object.keys(after).includes('acks.log'), `files: ${Object.keys(after).join(', ')}`);
    assert.ok(
      Object.keys(during).some((f) => f !== 'acks.log' && f !== 'meta.json'),
      `segments written: ${Object.keys(during).join(', ')}`,
    );
    for (const [f, m] of [...Object.entries(during), ...Object.entries(after)]) assert.equal(m, '600', `${f} is ${m}`);
    assert.equal((statSync(dir).mode & 0o777).toString(8), '700', 'the spool folder');
  } finally {
    process.umask(previous);
    rmSync(home, { recursive: true, force: true });
  }
});
