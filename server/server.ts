import { randomUUID } from 'node:crypto';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type pg from 'pg';
import { createTokenIssuer } from './auth/jwt.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { createApiContext } from './api/context.ts';
import { appRouter } from './api/router.ts';
import { buildOpenApiDocument } from './api/rest/openapi.ts';
import { createRestHandler } from './api/rest/rest-handler.ts';
import { sendJson } from './api/rest/http-io.ts';
import type { ServerConfig } from './config.ts';
import { createDb } from './db/client.ts';
import { startEmbeddedPostgres, type EmbeddedDb } from './db/embedded.ts';
import { runMigrations } from './db/migrate.ts';
import { createEventBus } from './events.ts';
import { createCredentialSealer } from './hub/credential-sealer.ts';
import { createHub, type Hub } from './hub/hub.ts';
import { createLog, type Log } from './log.ts';
import { createMetricsQuery } from './metrics/query.ts';
import { createMetricsWriter } from './metrics/write.ts';
import { applyRetention } from './metrics/retention.ts';
import { createPollPipeline } from './pipeline.ts';
import { createScheduler } from './scheduler/scheduler.ts';
import { createHealthMonitor } from './scheduler/health.ts';
import { resolveSecrets } from './secrets.ts';
import { createDiscoveryRunService } from './services/discovery-runs.ts';
import { createServices } from './services/index.ts';
import { loadOrCreateTls, formatFingerprint } from './tls.ts';
import { createVault } from './vault/credentials.ts';
import { CloseCode } from '../shared/protocol/index.ts';

export const SERVER_VERSION = '0.1.0';

export interface RunningServer {
  url: string;
  port: number;
  fingerprint: string;
  storageMode: 'timescaledb' | 'plain';
  pool: pg.Pool;
  hub: Hub;
  log: Log;
  generatedPassword: string | undefined;
  stop(): Promise<void>;
}

/** Wires database, API, agent hub, scheduler and metrics writer onto one HTTPS port. */
export async function startServer(cfg: Readonly<ServerConfig>, o: { log?: Log } = {}): Promise<RunningServer> {
  const log = o.log ?? createLog(cfg.log.level);
  const secrets = resolveSecrets(cfg);
  let embedded: EmbeddedDb | undefined;
  let url = cfg.database.url;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dataDir: `${cfg.data_dir}/postgres`, port: cfg.database.embedded_port, password: secrets.dbPassword, onLog: (l) => log.debug({ pg: l.trim() }, 'postgres') });
    url = embedded.url;
  }
  const storageMode = await runMigrations(url);
  log.info({ storage_mode: storageMode }, storageMode === 'timescaledb' ? 'metrics stored in a TimescaleDB hypertable' : 'TimescaleDB not available: metrics stored in a plain PostgreSQL table');
  const { pool, db } = createDb(url, cfg.database.pool_max);
  const events = createEventBus();
  const vault = createVault(secrets.masterKey);
  const metrics = createMetricsQuery({ pool, mode: storageMode, maxRawPoints: cfg.metrics.max_raw_points, latestCacheMs: cfg.metrics.latest_cache_ms });
  let hub: Hub | undefined;
  const services = createServices({
    db, pool, vault, events, metrics,
    admin: { username: cfg.auth.username, password: secrets.authPassword },
    tokens: createTokenIssuer(secrets.jwtSecret, cfg.auth.token_ttl_s),
    throttle: createLoginThrottle({ maxFailures: cfg.auth.login_max_failures, windowMs: cfg.auth.login_window_s * 1000 }),
    enrollmentTtlHours: cfg.agents.enrollment_ttl_h,
    isAgentOnline: (id) => hub?.isOnline(id) ?? false,
    storageMode,
    version: SERVER_VERSION,
  });

  const writer = createMetricsWriter({ pool, log, batchSize: cfg.metrics.writer_batch, flushMs: cfg.metrics.writer_flush_ms });
  const health = createHealthMonitor({ pool, events, log, threshold: cfg.health.failure_threshold, windowMs: cfg.health.window_s * 1000 });
  writer.onCommit((outcomes) => {
    metrics.invalidate([...new Set(outcomes.map((x) => x.monitor_id))]);
    health.observe(outcomes);
  });
  let pipeline: ReturnType<typeof createPollPipeline> | undefined;
  let scheduler: ReturnType<typeof createScheduler> | undefined;
  const discoveryHolder: { svc?: ReturnType<typeof createDiscoveryRunService> } = {};
  hub = createHub({
    pool, log,
    heartbeatMs: cfg.agents.heartbeat_ms,
    authTimeoutMs: cfg.agents.auth_timeout_ms,
    maxConnections: cfg.agents.max_connections,
    retryAfterSeconds: cfg.agents.retry_after_s,
    jobGraceMs: cfg.polling.grace_s * 1000,
    onResults: async (agentId, items) => {
      const owned = await pipeline!.ownResults(agentId, items);
      scheduler?.complete(owned.map((i) => i.job_id));
      await writer.write(pipeline!.toPollResults(owned));
    },
    onMessage: (agentId, msg) => {
      if (msg.type === 'discovery.progress') discoveryHolder.svc?.onProgress(agentId, msg);
      else if (msg.type === 'discovery.result') void discoveryHolder.svc?.onResult(agentId, msg);
    },
    onOnline: (id) => scheduler?.onWindowOpen(id),
    onOffline: (id) => discoveryHolder.svc?.onAgentOffline(id),
    onWindowOpen: (id) => scheduler?.onWindowOpen(id),
  });
  const sealer = createCredentialSealer(services.credentialProfiles, (id) => hub!.sealKey(id));
  pipeline = createPollPipeline({
    pool, hub, sealer, log,
    onUnsent: (jobs) => {
      scheduler?.complete(jobs.map((j) => j.job_id));
      writer.write(jobs.map((j) => j.result)).catch((err: Error) => log.error({ err: err.message }, 'recording unsent jobs failed'));
    },
  });
  discoveryHolder.svc = createDiscoveryRunService({
    pool, hub, sealer, events, log,
    getProfile: (id) => services.discoveryProfiles.getRow(id),
    getCredential: (id) => services.credentialProfiles.get(id),
    waitMs: cfg.discovery.wait_s * 1000,
    runTimeoutMs: cfg.discovery.run_timeout_s * 1000,
  });
  services.setDiscoveryRuns(discoveryHolder.svc);
  scheduler = createScheduler({
    pool, log,
    dispatch: (agentId, jobs) => pipeline!.dispatch(agentId, jobs),
    isAgentOnline: (id) => hub!.isOnline(id),
    onTimeout: (jobs) => void writer.write(pipeline!.timeoutResults(jobs)).catch((err: Error) => log.error({ err: err.message }, 'recording timed-out jobs failed')),
    config: { jobTimeoutMs: cfg.polling.job_timeout_s * 1000, graceMs: cfg.polling.grace_s * 1000, maxBatch: cfg.polling.batch_size },
  });
  events.on('monitor.changed', (e) => void (e.id ? scheduler!.refreshMonitor(e.id) : reloadScheduler()));
  events.on('device.status_changed', (e) => {
    if (e.status === 'active') health.reset(e.id);
    void scheduler!.refreshDevice(e.id);
  });
  events.on('device.changed', (e) => void scheduler!.refreshDevice(e.id));
  events.on('credential.changed', (e) => {
    sealer.forgetProfile(e.id);
    for (const a of hub!.onlineAgents()) hub!.send(a, { type: 'credentials.invalidate', profile_id: e.id });
  });
  events.on('agent.disabled', (e) => hub!.closeAgent(e.id, CloseCode.agentDisabled, 'agent disabled'));
  events.on('agent.deleted', (e) => hub!.closeAgent(e.id, CloseCode.unauthorized, 'agent deleted'));
  events.on('agent.reenrolled', (e) => hub!.closeAgent(e.id, CloseCode.replaced, 'the agent enrolled again with new keys'));
  const reloadScheduler = async () => {
    const r = await pool.query<{ id: number }>('SELECT m.id FROM monitors m');
    for (const row of r.rows) await scheduler!.refreshMonitor(row.id);
  };
  await scheduler.start();
  const stopRetention = await applyRetention({
    pool, mode: storageMode, log, retentionDays: cfg.metrics.retention_days, compressAfterDays: cfg.metrics.compress_after_days, chunkIntervalHours: cfg.metrics.chunk_interval_h,
    aggregates: { retention5mDays: cfg.metrics.aggregate_5m_retention_days, retention1hDays: cfg.metrics.aggregate_1h_retention_days, compressAfterDays: cfg.metrics.aggregate_compress_after_days },
  });

  const tls = loadOrCreateTls({ certFile: cfg.server.tls_cert_file, keyFile: cfg.server.tls_key_file, dataDir: cfg.data_dir });
  const rest = createRestHandler({ bodyLimitBytes: cfg.server.request_body_limit_kb * 1024 });
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: cfg.server.request_body_limit_kb * 1024,
    createContext: ({ req }) => createApiContext(req, services, log),
    onError: ({ error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR' && !(error.cause && (error.cause as { name?: string }).name === 'AppError')) log.error({ err: error.cause ?? error }, 'tRPC request failed');
    },
  });
  let openapi: unknown;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].slice(0, 64)) || randomUUID();
    const rlog = log.child({ req_id: reqId });
    const started = process.hrtime.bigint();
    res.setHeader('x-request-id', reqId);
    res.on('finish', () => rlog.info({ method: req.method, url: (req.url ?? '').split('?')[0], status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request'));
    const path = req.url ?? '/';
    try {
      if (path.startsWith('/trpc/')) return trpc(req, res);
      if (path === '/api/v1/openapi.json' && req.method === 'GET') {
        openapi ??= buildOpenApiDocument(`https://${req.headers.host ?? `localhost:${cfg.server.port}`}/api/v1`, SERVER_VERSION);
        return sendJson(res, 200, openapi);
      }
      if (path.startsWith('/api/v1/')) return await rest(req, res, path.slice('/api/v1'.length), await createApiContext(req, services, rlog), rlog);
      sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'not found: the API lives under /api/v1 and /trpc', details: {} } });
    } catch (err) {
      rlog.error({ err }, 'unhandled request error');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error', details: {} } });
    }
  }

  const server: Server = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, (req, res) => void handle(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    if (!hub!.handleUpgrade(req, socket, head)) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.server.port, cfg.server.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  log.info({ port, fingerprint: formatFingerprint(tls.fingerprint), generated_certificate: tls.generated }, 'NMSlite server listening');

  return {
    url: `https://localhost:${port}`,
    port,
    fingerprint: tls.fingerprint,
    storageMode,
    pool,
    hub,
    log,
    generatedPassword: secrets.generatedPassword,
    async stop() {
      stopRetention();
      await scheduler!.stop();
      await hub!.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await writer.close();
      await pool.end();
      await embedded?.stop();
    },
  };
}
