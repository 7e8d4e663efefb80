import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RESULT_SPOOL_FLUSH_MS } from './agent.ts';
import type { SpooledResult } from './link/client.ts';
import { openDiskSpool } from './spool/disk-spool.ts';
import { describeResult } from './spool/spool.ts';

test('results arriving at the rate of 10,000 monitors per minute share fsyncs: a few dozen a second, not one each', async () => {
  const spool = openDiskSpool<SpooledResult>({
    dir: mkdtempSync(join(tmpdir(), 'nmslite-agent-spool-')),
    capBytes: 16 << 20,
    describe: describeResult,
    flushMs: RESULT_SPOOL_FLUSH_MS,
  });
  const real = fs.fsyncSync;
  let fsyncs = 0;
  fs.fsyncSync = (fd) => {
    fsyncs++;
    real(fd);
  };
  syncBuiltinESMExports();
  try {
    const appends: Promise<number[]>[] = [];
    const started = Date.now();
    // ~170 results/s for 1.2 s, one append per result as the poller makes them.
    for (let i = 0; i < 200; i++) {
      appends.push(
        spool.append([
          {
            job_id: `${i + 1}-0`,
            monitor_id: i + 1,
            time: new Date(started + i).toISOString(),
            attempts: 1,
            failure: { class: 'unreachable', message: 'x' },
          },
        ]),
      );
      await new Promise((r) => setTimeout(r, 6));
    }
    await Promise.all(appends);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(fsyncs / seconds <= 40, `${fsyncs} fsyncs in ${seconds.toFixed(2)} s for 200 results`);
    assert.equal(spool.stats().backlog, 200);
  } finally {
    fs.fsyncSync = real;
    syncBuiltinESMExports();
    await spool.close();
  }
});
