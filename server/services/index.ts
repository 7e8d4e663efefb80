import type pg from 'pg';
import type { OnDemandPolls } from '../assignments/on-demand.ts';
import type { ScheduleState } from '../assignments/assignments.ts';
import type { Db } from '../db/client.ts';
import type { EventBus } from '../events.ts';
import type { Log } from '../log.ts';
import type { MetricsQuery } from '../metrics/query.ts';
import type { TokenIssuer } from '../auth/jwt.ts';
import type { LoginThrottle } from '../auth/login-throttle.ts';
import { createAuditLogReader } from '../audit/audit-query.ts';
import type { AgentInstall } from '../install/agent-install.ts';
import type { AgentGateway } from './agent-gateway.ts';
import { createAgentService } from './agents.ts';
import { createAuthService } from './auth.ts';
import type { CredentialProfileService } from './credential-profiles.ts';
import { createDeviceService } from './devices.ts';
import type { DiscoveryProfileService } from './discovery-profiles.ts';
import { createDiscoveryRunService } from './discovery-runs.ts';
import { createMonitorService } from './monitors.ts';
import { createPluginService } from './plugins.ts';

export interface ServiceDeps {
  db: Db;
  pool: pg.Pool;
  events: EventBus;
  metrics: MetricsQuery;
  admin: { username: string; password: string };
  tokens: TokenIssuer;
  throttle: LoginThrottle;
  enrollmentTtlHours: number;
  isAgentOnline: (id: number) => boolean;
  scheduleOf: (agentId: number) => ScheduleState;
  storageMode: 'timescaledb' | 'plain';
  version: string;
  /** Built before the rest because the agent-facing components need them too. */
  credentialProfiles: CredentialProfileService;
  discoveryProfiles: DiscoveryProfileService;
  monitorPolls: Pick<OnDemandPolls, 'poll'>;
  /** The install commands handed out with each enrollment token. */
  install: Pick<AgentInstall, 'commands'>;
  /** The connected agents, for the services that send them work (discovery). */
  agentGateway: AgentGateway;
  log: Log;
  discovery: { waitMs: number; runTimeoutMs: number };
}

/** The domain verbs the API calls, one service per resource. */
export function createServices(d: ServiceDeps) {
  const monitors = createMonitorService(d.db, d.events);
  const devices = createDeviceService(d.db, d.events, monitors);
  return {
    auth: createAuthService({ admin: d.admin, tokens: d.tokens, throttle: d.throttle }),
    credentialProfiles: d.credentialProfiles,
    discoveryProfiles: d.discoveryProfiles,
    discoveryRuns: createDiscoveryRunService({
      db: d.db,
      devices,
      monitors,
      agents: d.agentGateway,
      events: d.events,
      log: d.log,
      getProfile: d.discoveryProfiles.getRow,
      getCredential: d.credentialProfiles.get,
      ...d.discovery,
    }),
    devices,
    plugins: createPluginService(d.db, d.events),
    monitors,
    monitorPolls: d.monitorPolls,
    install: d.install,
    agents: createAgentService(d.db, d.events, {
      enrollmentTtlHours: d.enrollmentTtlHours,
      isOnline: d.isAgentOnline,
      scheduleOf: d.scheduleOf,
    }),
    metrics: d.metrics,
    auditLog: createAuditLogReader(d.db),
    async health() {
      let database: 'ok' | 'unavailable' = 'ok';
      try {
        await d.pool.query('SELECT 1');
      } catch {
        database = 'unavailable';
      }
      return {
        status: database === 'ok' ? ('ok' as const) : ('degraded' as const),
        database,
        storage_mode: d.storageMode,
        version: d.version,
        time: new Date().toISOString(),
      };
    },
  };
}
export type Services = ReturnType<typeof createServices>;
