import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type pino from 'pino';
import type { DiscoveryJob, PollJob } from '../shared/protocol/index.ts';
import { discoveryResultParts } from './discovery/result-parts.ts';
import type { CollectorRegistry } from './collectors/registry.ts';
import type { AgentConfig } from './config.ts';
import { createCredentialCache } from './credential-cache.ts';
import { defaultPingMethod } from './discovery/ping-method.ts';
import { loadIdentity, sealingKey } from './identity.ts';
import { createLink, type Link, type SpooledResult } from './link/client.ts';
import { createRunner, type JobResult } from './runner/runner.ts';
import { openDiskSpool } from './spool/disk-spool.ts';
import { SpoolFullError, type Spool } from './spool/spool.ts';

/** Discoveries one agent runs at once: each is a full-speed sweep of its range. */
const MAX_DISCOVERIES = 2;

export interface RunningAgent {
  link: Link;
  spool: Spool<SpooledResult>;
  stop(): Promise<void>;
  /** Resolves with a reason when the server refuses this agent for good. */
  fatal: Promise<string>;
}

/**
 * `nmslite-agent run`: jobs arrive over the link, the runner collects, every result goes into the
 * disk spool before it is sent, and the link drains the spool as the server acknowledges.
 */
export function startAgent(cfg: AgentConfig, log: pino.Logger, env: Record<string, string | undefined>): RunningAgent {
  const identity = loadIdentity(cfg.identity);
  const spool = openDiskSpool<SpooledResult>({ dir: cfg.spool_dir, capBytes: cfg.spool_cap_mb * 1024 * 1024 });
  const credentials = createCredentialCache(sealingKey(identity));
  // Collectors (and the WinRM client under them) and discovery load with the first job that needs
  // them: an idle agent never pays for them in memory or start time.
  let registry: CollectorRegistry | undefined;
  const loadRegistry = async (): Promise<CollectorRegistry> => (registry ??= (await import('./collectors/registry.ts')).createRegistry());
  const discoveries = new Map<string, AbortController>();
  let dropped = 0;
  let lateness = 0;
  let resolveFatal: (r: string) => void = () => {};
  const fatal = new Promise<string>((r) => (resolveFatal = r));

  const onResult = (r: JobResult): void => {
    const offset = link.offsetMs();
    const time = new Date(Date.parse(r.time) + offset).toISOString();
    const base = { job_id: r.job_id, monitor_id: Number(r.monitor_id), time };
    const item: SpooledResult = 'metrics' in r ? { ...base, metrics: r.metrics } : { ...base, failure: r.failure };
    spool.append([item]).then(
      () => link.kick(),
      (err: Error) => {
        dropped++;
        log.error({ err: err.message, full: err instanceof SpoolFullError }, 'a result could not be spooled');
      },
    );
  };

  // Seed 003 §2: hosts are pinged (in batches) before they are polled; off for sites that drop ICMP.
  const ping = cfg.ping_before_poll && defaultPingMethod() !== 'none' ? async (ips: string[]) => (await import('./discovery/sweep.ts')).pingHosts(ips, 1000) : undefined;
  const runner = createRunner({ registry: { find: (type) => registry?.find(type) }, maxConcurrent: cfg.max_concurrent, perTargetConcurrent: cfg.per_target_concurrent, retryBackoffMs: 1000, onResult, ...(ping ? { ping } : {}) });

  async function onJobs(jobs: PollJob[]): Promise<void> {
    const offset = link.offsetMs();
    const ready = [];
    for (const j of jobs) {
      let credential = null;
      if (j.credential) {
        try {
          credential = await credentials.open(j.credential);
        } catch {
          onResult({ job_id: j.job_id, monitor_id: j.monitor_id, time: new Date().toISOString(), failure: { class: 'internal', message: 'the sealed credential could not be opened by this agent' } });
          continue;
        }
      }
      ready.push({ job_id: j.job_id, monitor_id: j.monitor_id, deadline: j.deadline - offset, target: j.target, plugin: j.plugin, credential, ...(j.ping !== undefined ? { ping: j.ping } : {}) });
    }
    if (ready.length === 0) return;
    try {
      await loadRegistry();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'the collectors could not be loaded');
      for (const j of ready) onResult({ job_id: j.job_id, monitor_id: j.monitor_id, time: new Date().toISOString(), failure: { class: 'internal', message: 'the collectors could not be loaded by this agent' } });
      return;
    }
    runner.submit(ready);
  }

  async function onDiscovery(job: DiscoveryJob): Promise<void> {
    if (discoveries.has(job.run_id)) return;
    if (discoveries.size >= MAX_DISCOVERIES) {
      link.send({ type: 'discovery.result', run_id: job.run_id, scanned: 0, total: 0, devices: [], error: { class: 'internal', message: `this agent is already running ${discoveries.size} discoveries; try again when one has finished` } });
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
        signal: ac.signal,
        // The server fails a run whose agent went away: a scan nobody will receive stops too.
        onProgress: (p) => {
          if (!link.send({ type: 'discovery.progress', run_id: job.run_id, ...p })) ac.abort();
        },
      });
      const devices = res.found.map((h) => ({ ip: h.ip, port: h.port, use_ssl: h.use_ssl, hostname: h.hostname, os: h.os, os_version: h.os_version, winrm_stack: h.winrm_stack }));
      for (const part of discoveryResultParts(job.run_id, { scanned: res.scanned, total: res.total, cancelled: res.cancelled, devices })) link.send(part);
    } catch (err) {
      link.send({ type: 'discovery.result', run_id: job.run_id, scanned: 0, total: 0, devices: [], error: { class: 'internal', message: (err as Error).message.slice(0, 500) } });
    } finally {
      discoveries.delete(job.run_id);
    }
  }

  const link: Link = createLink({
    identity,
    spool,
    log,
    env,
    hostname: hostname(),
    maxInFlight: cfg.max_in_flight,
    health: () => {
      const h = runner.health();
      const s = spool.stats();
      lateness = h.lateness_ms.max;
      return {
        spool_backlog: s.backlog,
        spool_bytes: s.bytes,
        jobs_in_flight: h.in_flight,
        jobs_queued: h.queued,
        job_lateness_ms: lateness,
        errors: { ...h.failures_by_class, spool_dropped: dropped } as Record<string, number>,
        rss_bytes: process.memoryUsage().rss,
      };
    },
    onJobs: (jobs) => void onJobs(jobs),
    onDiscoveryStart: (job) => void onDiscovery(job),
    onDiscoveryCancel: (runId) => discoveries.get(runId)?.abort(),
    onInvalidate: (id) => credentials.invalidate(id),
    onFatal: (reason) => resolveFatal(reason),
  });
  link.start();

  return {
    link,
    spool,
    fatal,
    async stop() {
      for (const ac of discoveries.values()) ac.abort();
      await runner.stop();
      await link.stop();
      registry?.close();
      await spool.close();
    },
  };
}
