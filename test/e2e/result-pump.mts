// A stand-in agent for the zero-loss test: the real identity, disk spool and link, fed with
// synthetic results instead of a runner, so thousands of results flow in seconds.
// It speaks protocol 2 like the agent (the schedule it is sent is ignored: it runs no polls) and
// stamps each result with one of its monitor's slots, as the agent's poller does.
// Usage: result-pump.mts <identity> <spoolDir> [--append N --monitors 1,2,3 --base-ms T --interval-ms I]
import { parseArgs } from 'node:util';
import { nextSlot, pollJobId } from '../../shared/schedule.ts';
import { loadProxySettings } from '../../agent/config.ts';
import { loadIdentity } from '../../agent/identity.ts';
import { createLink, type SpooledResult } from '../../agent/link/client.ts';
import { openDiskSpool } from '../../agent/spool/disk-spool.ts';
import { describeResult } from '../../agent/spool/spool.ts';
import { REALISTIC_SAMPLE } from '../helpers/metric-samples.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    append: { type: 'string' },
    monitors: { type: 'string' },
    'base-ms': { type: 'string' },
    'interval-ms': { type: 'string' },
  },
});
const [identityPath, spoolDir] = positionals as [string, string];
const identity = loadIdentity(identityPath);
const spool = openDiskSpool<SpooledResult>({ dir: spoolDir, capBytes: 1 << 30, describe: describeResult });
const log = {
  info() {},
  warn() {},
  error: (o: object, m: string) => process.stderr.write(`${m} ${JSON.stringify(o)}\n`),
  debug() {},
};

if (values.append) {
  const n = Number(values.append);
  const monitors = values.monitors!.split(',').map(Number);
  const base = Number(values['base-ms']);
  const interval = Number(values['interval-ms'] ?? 60_000);
  for (let i = 0; i < n; i += 1000) {
    const chunk: SpooledResult[] = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const monitor = monitors[j % monitors.length]!;
      const slot = nextSlot(monitor, interval, base) + Math.floor(j / monitors.length) * interval;
      chunk.push({
        job_id: pollJobId(monitor, slot),
        monitor_id: monitor,
        time: new Date(slot).toISOString(),
        attempts: 1,
        metrics: { ...REALISTIC_SAMPLE, process_count: j % 1000 },
      });
    }
    await spool.append(chunk);
  }
  process.stdout.write(`appended ${n}\n`);
}

const link = createLink({
  identity,
  spool,
  log,
  proxy: loadProxySettings(process.env),
  hostname: 'pump',
  maxInFlight: 10,
  health: () => ({ spool_backlog: spool.stats().backlog, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} }),
  scheduleRevision: () => null,
  onFatal: (r) => {
    process.stderr.write(`fatal: ${r}\n`);
    process.exit(3);
  },
  backoff: { baseMs: 100, capMs: 1000 },
  batchSize: 50,
  batchesInFlight: 1,
});
link.start();
const timer = setInterval(async () => {
  if (spool.stats().backlog === 0) {
    clearInterval(timer);
    await link.stop();
    await spool.close();
    process.stdout.write('drained\n');
    process.exit(0);
  }
}, 50);
