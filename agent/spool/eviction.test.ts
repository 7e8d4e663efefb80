import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evictionSuite, describe } from './eviction-suite.ts';
import { createMemorySpool } from './memory-spool.ts';
import { openDiskSpool } from './disk-spool.ts';

evictionSuite('memory spool', async ({ capBytes, maxRanges }) => createMemorySpool({ capBytes, describe, ...(maxRanges ? { maxRanges } : {}) }));
evictionSuite('disk spool', async ({ capBytes, maxRanges }) => openDiskSpool({ dir: mkdtempSync(join(tmpdir(), 'spool-')), capBytes, segmentBytes: Math.max(1024, capBytes / 8), flushMs: 1, describe, ...(maxRanges ? { maxRanges } : {}) }));
