import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type pg from 'pg';
import { createTokenIssuer } from './auth/jwt.ts';
import { createLoginThrottle } from './auth/login-throttle.ts';
import { createTokenEpochStore } from './auth/token-epoch.ts';
import { createApiContext } from './api/context.ts';
import { appRouter } from './api/router.ts';
import { buildOpenApiDocument } from './api/rest/openapi.ts';
import { API_DOCS_PREFIX, createApiDocsHandler } from './api/rest/api-docs.ts';
import { createRestHandler } from './api/rest/rest-handler.ts';
import { readBodyText, sendJson, tooDeepError } from './api/rest/http-io.ts';
import { jsonDepthExceeds } from './api/json-depth.ts';
import { AppError } from './errors.ts';
import type { ServerConfig } from './config.ts';
import { createDb } from './db/client.ts';
import { startEmbeddedPostgres, type EmbeddedDb } from './db/embedded.ts';
import { runMigrations } from './db/migrate.ts';
import { setupGrafanaReader } from './db/grafana-reader.ts';
import { createEventBus } from './events.ts';
import { createAssignmentService, type AssignmentService } from './assignments/assignments.ts';
import { createAssignmentStore } from './assignments/assignment-store.ts';
import { createOnDemandPolls } from './assignments/on-demand.ts';
import { createExpectationTracker } from './expectations/tracker.ts';
import { createCredentialSealer } from './hub/credential-sealer.ts';
import { createAgentHandlers } from './hub/handlers/index.ts';
import { createHub, type Hub } from './hub/hub.ts';
import { createAgentRegistry } from './hub/registry.ts';
import { createLog, type Log } from './log.ts';
import { createMetricsQuery } from './metrics/query.ts';
import { createMetricsWriter } from './metrics/write.ts';
import { createRouteResolver, trackHttpRequest } from './observability/http-metrics.ts';
import { createMetricsEndpoint, METRICS_PATH } from './observability/metrics-endpoint.ts';
import { createServerMetrics } from './observability/prometheus.ts';
import { applyRetention } from './metrics/retention.ts';
import { startAuditRetention } from './audit/audit-retention.ts';
import { createHealthMonitor } from './health/health-monitor.ts';
import { resolveSecrets } from './secrets.ts';
import { createCredentialProfileService } from './services/credential-profiles.ts';
import { createDiscoveryProfileService } from './services/discovery-profiles.ts';
import { createServices } from './services/index.ts';
import { chooseConnectionCaps, limitConnections, openFileLimit } from './net/connection-limit.ts';
import { loadOrCreateTls, formatFingerprint } from './tls.ts';
import { createAgentInstall } from './install/agent-install.ts';
import { createVault } from './vault/credentials.ts';
import { SERVER_VERSION } from './version.ts';

export { SERVER_VERSION };

export interface RunningServer {
  url: string;
  port: number;
  fingerprint: string;
  storageMode: 'timescaledb' | 'plain';
  pool: pg.Pool;
  hub: Hub;
  /** The agents' assignment sets (tests and benchmarks wait on `settled()`). */
  assignments: Pick<AssignmentService, 'settled' | 'scheduleOf'>;
  log: Log;
  generatedPassword: string | undefined;
  stop(): Promise<void>;
}

/**
 * The composition root: components are built in dependency order and handed what they need.
 * Agents' messages reach the handler map (server/hub/handlers); changes reach agents through the
 * event bus and the assignment service; nothing here speaks the protocol itself.
 */
export async function startServer(cfg: Readonly<ServerConfig>, o: { log?: Log } = {}): Promise<RunningServer> {
  const log = o.log ?? createLog(cfg.log.level);
  const observability = createServerMetrics({ enabled: cfg.prometheus.enabled ?? cfg.prometheus.token !== undefined });
  const secrets = resolveSecrets(cfg);
  // The certificate first: the install commands (services) carry its pins.
  const tls = await loadOrCreateTls({
    certFile: cfg.server.tls_cert_file,
    keyFile: cfg.server.tls_key_file,
    dataDir: cfg.data_dir,
    names: [cfg.server.host, cfg.server.public_url && new URL(cfg.server.public_url).hostname],
  });
  // /install/: the agent binaries this server was built with and the install scripts (server/install).
  const install = createAgentInstall({
    dir: cfg.install.agents_dir,
    maxBinaryBytes: cfg.install.max_binary_mb * 1024 * 1024,
    maxConcurrentDownloads: cfg.install.max_concurrent_downloads,
    maxDownloadsPerAddress: cfg.install.max_downloads_per_address,
    requestsPerMinute: cfg.install.requests_per_minute,
    downloadTimeoutMs: cfg.install.download_timeout_s * 1000,
    publicUrl: cfg.server.public_url,
    port: () => (server.address() as { port: number } | null)?.port ?? cfg.server.port,
    cert: tls.cert,
    fingerprint: tls.fingerprint,
    version: SERVER_VERSION,
    log,
  });
  let embedded: EmbeddedDb | undefined;
  let url = cfg.database.url;
  if (!url) {
    embedded = await startEmbeddedPostgres({
      dataDir: `${cfg.data_dir}/postgres`,
      port: cfg.database.embedded_port,
      password: secrets.dbPassword,
      onLog: (l) => log.debug({ pg: l.trim() }, 'postgres'),
      onFolderOpened: (f) =>
        log.warn(
          f,
          'added o+x (search only) to a parent folder of the data dir: as root, PostgreSQL runs as the postgres user, who must reach it',
        ),
    });
    url = embedded.url;
  }
  const storageMode = await runMigrations(url);
  log.info(
    { storage_mode: storageMode },
    storageMode === 'timescaledb'
      ? 'metrics stored in a TimescaleDB hypertable'
      : 'TimescaleDB not available: metrics stored in a plain PostgreSQL table',
  );
  await setupGrafanaReader(url, cfg.grafana.db_password, log);
  const { pool, db } = createDb(url, cfg.database.pool_max);
  const events = createEventBus();
  const vault = createVault(secrets.masterKey);
  const metrics = createMetricsQuery({
    pool,
    mode: storageMode,
    maxRawPoints: cfg.metrics.max_raw_points,
    latestCacheMs: cfg.metrics.latest_cache_ms,
    aggregateRetentionDays: {
      '5m': cfg.metrics.aggregate_5m_retention_days,
      '1h': cfg.metrics.aggregate_1h_retention_days,
    },
  });
  const registry = createAgentRegistry();
  const credentialProfiles = createCredentialProfileService(db, vault, events);
  const discoveryProfiles = createDiscoveryProfileService(db);
  const sealer = createCredentialSealer(credentialProfiles, registry.sealKey);

  const writer = createMetricsWriter({
    pool,
    log,
    batchSize: cfg.metrics.writer_batch,
    flushMs: cfg.metrics.writer_flush_ms,
    maxQueued: cfg.metrics.writer_max_queued,
    maxWaitMs: cfg.metrics.writer_max_wait_s * 1000,
    recorder: observability.writer,
  });
  const tracker = createExpectationTracker({
    log,
    graceMs: cfg.polling.grace_s * 1000,
    isAgentOnline: registry.isOnline,
    report: (results) =>
      void writer
        .write(results)
        .catch((err: Error) => log.error({ err: err.message }, 'recording missing results failed')),
  });
  writer.onCommit((outcomes) => metrics.invalidate([...new Set(outcomes.map((x) => x.monitor_id))]));

  const store = createAssignmentStore(pool, { jobTimeoutMs: cfg.polling.job_timeout_s * 1000 });
  const assignments = createAssignmentService({
    store,
    links: registry,
    sealer,
    tracker,
    events,
    log,
    debounceMs: cfg.agents.schedule_debounce_ms,
    partLimits: { assignments: cfg.agents.schedule_part_assignments },
  });
  const polls = createOnDemandPolls({
    store,
    links: registry,
    sealer,
    events,
    log,
    perAgent: cfg.polling.on_demand_per_agent,
    marginMs: cfg.polling.on_demand_margin_s * 1000,
  });
  const services = createServices({
    db,
    pool,
    events,
    metrics,
    admin: { username: cfg.auth.username, password: secrets.authPassword },
    tokens: createTokenIssuer({
      secret: secrets.jwtSecret,
      ttlSeconds: cfg.auth.token_ttl_s,
      admin: { username: cfg.auth.username, password: secrets.authPassword },
      epochs: createTokenEpochStore(join(cfg.data_dir, 'auth-epoch.json')),
    }),
    throttle: createLoginThrottle({
      maxFailures: cfg.auth.login_max_failures,
      windowMs: cfg.auth.login_window_s * 1000,
      lockoutBaseMs: cfg.auth.login_lockout_base_s * 1000,
      lockoutMaxMs: cfg.auth.login_lockout_max_s * 1000,
      protect: [cfg.auth.username],
    }),
    enrollmentTtlHours: cfg.agents.enrollment_ttl_h,
    isAgentOnline: registry.isOnline,
    scheduleOf: assignments.scheduleOf,
    storageMode,
    version: SERVER_VERSION,
    credentialProfiles,
    discoveryProfiles,
    monitorPolls: polls,
    install,
    agentGateway: {
      isOnline: registry.isOnline,
      send: registry.send,
      sealFor: (agentId, profileId) => sealer.seal(agentId, profileId),
    },
    log,
    discovery: { waitMs: cfg.discovery.wait_s * 1000, runTimeoutMs: cfg.discovery.run_timeout_s * 1000 },
  });
  const { discoveryRuns } = services;
  events.on('agent.offline', (e) => discoveryRuns.onAgentOffline(e.id));
  const health = createHealthMonitor({
    devices: services.devices,
    events,
    log,
    threshold: cfg.health.failure_threshold,
    windowMs: cfg.health.window_s * 1000,
  });
  writer.onCommit(health.observe);
  const hub = createHub({
    pool,
    presence: services.agents,
    log,
    registry,
    events,
    handlers: createAgentHandlers({
      assignments,
      writer,
      tracker,
      log,
      polls,
      discoveryRuns,
      recorder: observability.hub,
    }),
    heartbeatMs: cfg.agents.heartbeat_ms,
    authTimeoutMs: cfg.agents.auth_timeout_ms,
    maxConnections: cfg.agents.max_connections,
    retryAfterSeconds: cfg.agents.retry_after_s,
    maxUnsentBytes: cfg.agents.max_unsent_mb * 1024 * 1024,
    recorder: observability.hub,
  });
  observability.attach({
    agentsConnected: () => registry.onlineAgents().length,
    isOnline: registry.isOnline,
    writerQueue: () => writer.stats(),
    agentNames: async () =>
      new Map(
        (await pool.query<{ id: number; name: string }>('SELECT id, name FROM agents')).rows.map((r) => [r.id, r.name]),
      ),
  });
  await assignments.start();
  tracker.start();
  const stopRetention = await applyRetention({
    pool,
    mode: storageMode,
    log,
    retentionDays: cfg.metrics.retention_days,
    compressAfterDays: cfg.metrics.compress_after_days,
    chunkIntervalHours: cfg.metrics.chunk_interval_h,
    aggregates: {
      retention5mDays: cfg.metrics.aggregate_5m_retention_days,
      retention1hDays: cfg.metrics.aggregate_1h_retention_days,
      compressAfterDays: cfg.metrics.aggregate_compress_after_days,
    },
  });

  const stopAuditRetention = startAuditRetention({ pool, log, retentionDays: cfg.audit.retention_days });

  const bodyLimit = cfg.server.request_body_limit_kb * 1024;
  const jsonMaxDepth = cfg.server.json_max_depth;
  const rest = createRestHandler({ bodyLimitBytes: bodyLimit, jsonMaxDepth });
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: cfg.server.request_body_limit_kb * 1024,
    createContext: ({ req }) => createApiContext(req, services, log),
    onError: ({ error }) => {
      if (
        error.code === 'INTERNAL_SERVER_ERROR' &&
        !(error.cause && (error.cause as { name?: string }).name === 'AppError')
      )
        log.error({ err: error.cause ?? error }, 'tRPC request failed');
    },
  });
  const apiDocs = createApiDocsHandler({ publicUrl: cfg.server.public_url });
  // Built once; the request's Host header never reaches it (a forged one would be served to everyone).
  const openapi = buildOpenApiDocument(`${cfg.server.public_url ?? ''}/api/v1`, SERVER_VERSION);
  const routeOf = createRouteResolver({
    restBase: '/api/v1',
    rest: (openapi.paths ?? {}) as Record<string, Record<string, unknown>>,
    trpc: Object.keys((appRouter._def as unknown as { procedures: Record<string, unknown> }).procedures),
    fixed: [METRICS_PATH, '/api/v1/openapi.json'],
    prefixes: ['/api/docs', '/install'],
  });
  const serveMetrics = observability.enabled
    ? createMetricsEndpoint({ metrics: observability, token: cfg.prometheus.token, log })
    : undefined;
  if (serveMetrics && cfg.prometheus.token === undefined)
    log.warn('GET /metrics is served without a token (prometheus.enabled without prometheus.token)');

  /** A request refused before tRPC saw it, in tRPC's error shape (as the errorFormatter in api/trpc.ts). */
  const sendTrpcError = (res: ServerResponse, err: AppError, status: 400 | 413 = 400): void =>
    sendJson(res, status, {
      error: {
        message: err.message,
        code: status === 413 ? -32013 : -32600,
        data: {
          code: status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST',
          httpStatus: status,
          app: { code: err.code, message: err.message, details: err.details ?? {} },
        },
      },
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqId =
      (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].slice(0, 64)) || randomUUID();
    const rlog = log.child({ req_id: reqId });
    const started = process.hrtime.bigint();
    res.setHeader('x-request-id', reqId);
    if (observability.enabled) trackHttpRequest(observability.http, routeOf, req, res);
    res.on('finish', () =>
      rlog.info(
        {
          method: req.method,
          url: (req.url ?? '').split('?')[0],
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request',
      ),
    );
    const path = req.url ?? '/';
    try {
      if (serveMetrics && path.split('?')[0] === METRICS_PATH) return await serveMetrics(req, res);
      if (path.startsWith('/trpc/')) {
        // Bodies (and GET's ?input=) are read and depth-checked here, before tRPC parses them; tRPC then
        // takes the checked text from req.body. Oversize (413) and too deep (400) answer in tRPC's error shape.
        const q = path.indexOf('?');
        const input = q < 0 ? null : new URLSearchParams(path.slice(q + 1)).get('input');
        if (input !== null && jsonDepthExceeds(input, jsonMaxDepth))
          return sendTrpcError(res, tooDeepError(jsonMaxDepth));
        if (req.method === 'POST') {
          let text: string;
          try {
            text = await readBodyText(req, bodyLimit);
          } catch (err) {
            if (err instanceof AppError) return sendTrpcError(res, err, 413); // readBodyText's only AppError: over the limit
            throw err;
          }
          if (jsonDepthExceeds(text, jsonMaxDepth)) return sendTrpcError(res, tooDeepError(jsonMaxDepth));
          (req as IncomingMessage & { body?: string }).body = text;
        }
        return trpc(req, res);
      }
      if (path.startsWith('/install/')) return await install.handle(req, res, path);
      if (path === '/api/v1/openapi.json' && req.method === 'GET') {
        return sendJson(res, 200, openapi);
      }
      if (path === API_DOCS_PREFIX || /^\/api\/docs[/?]/.test(path)) return apiDocs(req, res, path);
      if (path.startsWith('/api/v1/'))
        return await rest(req, res, path.slice('/api/v1'.length), await createApiContext(req, services, rlog), rlog);
      sendJson(res, 404, {
        error: { code: 'NOT_FOUND', message: 'not found: the API lives under /api/v1 and /trpc', details: {} },
      });
    } catch (err) {
      rlog.error({ err }, 'unhandled request error');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error', details: {} } });
    }
  }

  const headersTimeout = Math.min(cfg.server.headers_timeout_ms, cfg.server.request_timeout_ms);
  const server: Server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      handshakeTimeout: cfg.server.tls_handshake_timeout_ms,
      headersTimeout,
      requestTimeout: cfg.server.request_timeout_ms,
      // How often headersTimeout/requestTimeout are checked (Node's default is 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(headersTimeout / 2))),
    },
    (req, res) => void handle(req, res),
  );
  const caps = chooseConnectionCaps({
    maxConnections: cfg.server.max_connections,
    perAddress: cfg.server.max_connections_per_address,
    poolMax: cfg.database.pool_max,
    fdLimit: openFileLimit(),
  });
  let refusedLogged = 0;
  limitConnections(server, caps, (address, open) => {
    // At most one line a second: the flood itself must not flood the log.
    if (Date.now() - refusedLogged < 1000) return;
    refusedLogged = Date.now();
    log.warn(
      { address, open, max_per_address: caps.perAddress },
      'connection refused: this address is at its connection cap',
    );
  });
  server.on('drop', () => {
    if (Date.now() - refusedLogged < 1000) return;
    refusedLogged = Date.now();
    log.warn({ max_connections: caps.total }, 'connection refused: the server is at its connection cap');
  });
  log.info(
    {
      max_connections: caps.total,
      max_connections_per_address: caps.perAddress,
      fd_limit: caps.fdLimit ?? 'unknown',
      lowered_by_fd_limit: caps.loweredByFdLimit,
      db_pool_max: cfg.database.pool_max,
    },
    'HTTPS connection caps',
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    if (!hub.handleUpgrade(req, socket, head))
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.server.port, cfg.server.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  log.info(
    { port, fingerprint: formatFingerprint(tls.fingerprint), generated_certificate: tls.generated },
    'NMSlite server listening',
  );

  return {
    url: `https://localhost:${port}`,
    port,
    fingerprint: tls.fingerprint,
    storageMode,
    pool,
    hub,
    assignments,
    log,
    generatedPassword: secrets.generatedPassword,
    async stop() {
      stopRetention();
      stopAuditRetention();
      tracker.stop();
      polls.stop();
      await hub.stop();
      await assignments.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await writer.close();
      await health.settled();
      await pool.end();
      await embedded?.stop();
      observability.close();
    },
  };
}
