import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { METRIC_FIELDS } from '../../shared/metrics.ts';
import type { PollResult } from './poll-result.ts';

export const METRIC_COLUMNS = ['time', 'monitor_id', 'agent_seq', ...METRIC_FIELDS] as const;

type Sample = Extract<PollResult, { ok: true }>;

/** COPY text format: tab-separated, \N for null. Every value is a number or a timestamp, so nothing needs escaping. */
export function encodeCopyRows(samples: readonly Sample[]): string {
  const lines: string[] = new Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const r = samples[i]!;
    let line = `${r.time.toISOString()}\t${r.monitor_id}\t${r.agent_seq ?? '\\N'}`;
    for (const f of METRIC_FIELDS) {
      const v = r.sample[f];
      line += v === null || v === undefined || !Number.isFinite(v) ? '\t\\N' : `\t${v}`;
    }
    lines[i] = line;
  }
  return `${lines.join('\n')}\n`;
}

export async function copyInto(client: pg.PoolClient | pg.Client, table: string, text: string): Promise<void> {
  const stream = client.query(copyStreams.from(`COPY ${table} (${METRIC_COLUMNS.join(', ')}) FROM STDIN`));
  await pipeline(Readable.from([Buffer.from(text)]), stream);
}
