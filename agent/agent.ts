import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type pino from 'pino';
import { boundHealthErrors, type DiscoveryJob } from '../shared/protocol/index.ts';
import { discoveryResultParts } from './discovery/result-parts.ts';
import type { CollectorRegistry } from './collectors/registry.ts';
import type { AgentConfig } from './config.ts';
import { createCredentialCache } from './credential-cache.ts';
import { defaultPingMethod } from './discovery/ping-method.ts';
import { loadIdentity, sealingKey } from './identity.ts';
import { createLink, type Link, type SpooledResult } from './link/client.ts';
import { createRunner } from './runner/runner.ts';
import { SCHEDULE_FILE, createAssignmentStore, type AssignmentStore } from './schedule/assignment-store.ts';
import { STATE_FILE, createOfflineState } from './schedule/offline-state.ts';
import { createPollSchedule, type PollSchedule } from './schedule/poll-schedule.ts';
import { createPoller } from './schedule/poller.ts';
import { openDiskSpool } from './spool/disk-spool.ts';
import { createResultWriter } from './spool/result-writer.ts';
import { describeResult, type Spool } from './spool/spool.ts';

/** Discoveries one agent runs at once: each is a full-speed sweep of its range. */
const MAX_DISCOVERIES = 2;

/**
 * Results finished within this window share one write + fsync of the spool (which run on the event
 * loop): at 10,000 monitors per minute (~170 results/s) 5 ms meant an fsync per result and about a
 * third of the loop; 50 ms costs about a tenth. An agent killed at the wrong moment loses at most
 * this window's results, which it had not sent yet.
 */
export const RESULT_SPOOL_FLUSH_MS = 50;

export interface RunningAgent {
  link: Link;
  spool: Spool<SpooledResult>;
  store: AssignmentStore;
  schedule: PollSchedule;
  stop(): Promise<void>;
  /** Resolves with a reason when the server refuses this agent for good. */
  fatal: Promise<string>;
}

/**
 * `nmslite-agent run`. The server sends the site's schedule (the assignment store keeps and
 * persists it); the schedule fires each monitor on its slots, in server time, connected or not;
 * the runner collects; every result goes into the disk spool, which the link drains as the server
 * acknowledges. A saved schedule is loaded and run before the first connect, so an agent restarted
 * while the server is unreachable keeps polling (up to max_offline_hours).
 */
export function startAgent(cfg: AgentConfig, log: pino.Logger): RunningAgent {
  const identity = loadIdentity(cfg.identity);
  mkdirSync(cfg.home, { recursive: true, mode: 0o700 });
  // At its cap the spool evicts the oldest results, counted per monitor and reported in health.
  const spool = openDiskSpool<SpooledResult>({
    dir: cfg.spool_dir,
    capBytes: cfg.spool_cap_mb * 1024 * 1024,
    describe: describeResult,
    flushMs: RESULT_SPOOL_FLUSH_MS,
  });
  const credentials = createCredentialCache(sealingKey(identity));
  // Collectors (and the WinRM client under them) and discovery load with the first job that needs
  // them: an idle agent never pays for them in memory or start time.
  let registry: CollectorRegistry | undefined;
  const loadRegistry = async (): Promise<CollectorRegistry> => {
    const m = await import('./collectors/registry.ts');
    return (registry ??= m.createRegistry({ pluginsDir: m.pluginsDirOf(cfg.home) }));
  };
  const discoveries = new Map<string, AbortController>();
  let resolveFatal: (r: string) => void = () => {};
  const fatal = new Promise<string>((r) => (resolveFatal = r));

  let schedule: PollSchedule | undefined;
  const offline = createOfflineState({
    file: join(cfg.home, STATE_FILE),
    maxOfflineMs: cfg.max_offline_hours * 3_600_000,
    log,
    lastSlot: () => schedule?.lastSlot() ?? null,
  });
  const initialOffsetMs = offline.load();
  const floor = offline.savedLastSlot();

  const results = createResultWriter<SpooledResult>({ spool, log, onSpooled: () => link.kick() });

  // Hosts are pinged (in batches) before they are polled; off for sites that drop ICMP.
  const ping =
    cfg.ping_before_poll && defaultPingMethod() !== 'none'
      ? async (ips: string[]) => (await import('./discovery/sweep.ts')).pingHosts(ips, 1000)
      : undefined;
  const runner = createRunner({
    registry: { find: (type) => registry?.find(type) },
    maxConcurrent: cfg.max_concurrent,
    perTargetConcurrent: cfg.per_target_concurrent,
    retryBackoffMs: 1000,
    onResult: (r) => poller.onResult(r),
    ...(ping ? { ping } : {}),
  });
  const poller = createPoller({
    runner,
    findCredential: (a) => (a.credential ? store.credential(a.credential) : undefined),
    openCredential: (sealed) => credentials.open(sealed),
    ready: loadRegistry,
    offsetMs: () => offline.serverNow() - Date.now(),
    admitPoll: () => offline.admitPoll(),
    spool: (item) => results.write(item),
    reply: (m) => void link.send(m),
    log,
  });
  // Started after the latest slot the previous run fired: a restart never polls a slot twice.
  const sched = (schedule = createPollSchedule({
    now: () => offline.serverNow(),
    onDue: (p) => poller.onDue(p),
    ...(floor !== null ? { floor } : {}),
  }));
  const store = createAssignmentStore({
    file: join(cfg.home, SCHEDULE_FILE),
    log,
    onChange: (c) => {
      if (c.kind === 'full') return sched.replaceAll(c.assignments);
      for (const id of c.remove) sched.remove(id);
      for (const a of c.upsert) sched.upsert(a);
    },
    onPersisted: (revision) => void link.send({ type: 'schedule.ack', revision }),
    onResync: (have, reason) => void link.send({ type: 'schedule.resync', have, reason }),
  });
  store.load();
  sched.start();

  async function onDiscovery(job: DiscoveryJob): Promise<void> {
    if (discoveries.has(job.run_id)) return;
    /** The run's end when it failed before finding anything. */
    const failed = (message: string) =>
      link.send({
        type: 'discovery.result',
        run_id: job.run_id,
        scanned: 0,
        total: 0,
        devices: [],
        error: { class: 'internal', message },
      });
    if (discoveries.size >= MAX_DISCOVERIES) {
      failed(`this agent is already running ${discoveries.size} discoveries; try again when one has finished`);
      return;
    }
    const ac = new AbortController();
    // one listener per host probe in flight: hundreds during a large sweep
    setMaxListeners(0, ac.signal);
    discoveries.set(job.run_id, ac);
    try {
      const credential = job.credential ? await credentials.open(job.credential) : null;
      const { discover } = await import('./discovery/discover.ts');
      const res = await discover({
        target: job.target,
        portScan: job.port_scan,
        credential,
        ...(job.winrm_port ? { prefer: { port: job.winrm_port, use_ssl: job.use_ssl ?? false } } : {}),
        authenticateUnverified: job.authenticate_unverified === true,
        signal: ac.signal,
        // The server fails a run whose agent went away: a scan nobody will receive stops too.
        onProgress: (p) => {
          if (!link.send({ type: 'discovery.progress', run_id: job.run_id, ...p })) ac.abort();
        },
      });
      // Each host as found, with the error its authenticated query met (shown by GET /discovery-runs/:id).
      for (const part of discoveryResultParts(job.run_id, {
        scanned: res.scanned,
        total: res.total,
        cancelled: res.cancelled,
        devices: res.found,
      }))
        link.send(part);
    } catch (err) {
      failed((err as Error).message.slice(0, 500));
    } finally {
      discoveries.delete(job.run_id);
    }
  }

  const link: Link = createLink({
    identity,
    spool,
    log,
    proxy: cfg.proxy,
    hostname: hostname(),
    maxInFlight: cfg.max_in_flight,
    initialOffsetMs,
    scheduleRevision: () => store.revision(),
    health: () => {
      const h = runner.health();
      const s = spool.stats();
      const off = offline.snapshot();
      const oldest = s.oldestTime;
      return {
        spool_backlog: s.backlog,
        spool_bytes: s.bytes,
        jobs_in_flight: h.in_flight,
        jobs_queued: h.queued,
        job_lateness_ms: h.lateness_ms.max,
        // slots_missed: slots passed over because the agent fell more than an interval behind (a stall, a suspended VM).
        errors: boundHealthErrors({
          ...h.failures_by_class,
          spool_dropped: results.dropped(),
          slots_missed: sched.stats().missed,
        }),
        rss_bytes: process.memoryUsage().rss,
        schedule_revision: store.revision(),
        monitors_assigned: store.size(),
        offline_since: off.offline_since,
        polls_offline: off.polls_offline,
        polling_paused: off.polling_paused,
        spool_oldest_age_ms: oldest === null ? null : Math.max(0, offline.serverNow() - oldest),
        spool_evicted: spool.evictions(),
      };
    },
    onScheduleFull: (m) => store.applyFull(m),
    onScheduleDelta: (m) => store.applyDelta(m),
    onPollNow: (m) => poller.pollNow(m),
    onUp: () => offline.linkUp(),
    onDown: () => {
      offline.linkDown();
      store.linkDown();
    },
    onOffset: (ms) => offline.setOffset(ms),
    onDiscoveryStart: (job) => void onDiscovery(job),
    onDiscoveryCancel: (runId) => discoveries.get(runId)?.abort(),
    onInvalidate: (id) => credentials.invalidate(id),
    onFatal: (reason) => resolveFatal(reason),
  });
  link.start();

  return {
    link,
    spool,
    store,
    schedule: sched,
    fatal,
    async stop() {
      sched.stop();
      for (const ac of discoveries.values()) ac.abort();
      await runner.stop();
      await store.close();
      await link.stop();
      await offline.close();
      registry?.close();
      await spool.close();
    },
  };
}
