import type pg from 'pg';
import type { Db } from '../db/client.ts';
import type { EventBus } from '../events.ts';
import type { MetricsQuery } from '../metrics/query.ts';
import type { Vault } from '../vault/credentials.ts';
import type { TokenIssuer } from '../auth/jwt.ts';
import type { LoginThrottle } from '../auth/login-throttle.ts';
import { createAgentService } from './agents.ts';
import { createAuthService } from './auth.ts';
import { createCredentialProfileService } from './credential-profiles.ts';
import { createDeviceService } from './devices.ts';
import { createDiscoveryProfileService } from './discovery-profiles.ts';
import type { DiscoveryRunService } from './discovery-runs.ts';
import { createMonitorService } from './monitors.ts';
import { createPluginService } from './plugins.ts';

export interface ServiceDeps {
  db: Db;
  pool: pg.Pool;
  vault: Vault;
  events: EventBus;
  metrics: MetricsQuery;
  admin: { username: string; password: string };
  tokens: TokenIssuer;
  throttle: LoginThrottle;
  enrollmentTtlHours: number;
  isAgentOnline: (id: number) => boolean;
  storageMode: 'timescaledb' | 'plain';
  version: string;
}

export function createServices(d: ServiceDeps) {
  const base = {
    auth: createAuthService({ admin: d.admin, tokens: d.tokens, throttle: d.throttle }),
    credentialProfiles: createCredentialProfileService(d.db, d.vault, d.events),
    discoveryProfiles: createDiscoveryProfileService(d.db),
    devices: createDeviceService(d.db, d.events),
    plugins: createPluginService(d.db),
    monitors: createMonitorService(d.db, d.events),
    agents: createAgentService(d.db, d.pool, d.events, { enrollmentTtlHours: d.enrollmentTtlHours, isOnline: d.isAgentOnline }),
    metrics: d.metrics,
    async health() {
      let database: 'ok' | 'unavailable' = 'ok';
      try {
        await d.pool.query('SELECT 1');
      } catch {
        database = 'unavailable';
      }
      return { status: database === 'ok' ? ('ok' as const) : ('degraded' as const), database, storage_mode: d.storageMode, version: d.version, time: new Date().toISOString() };
    },
  };
  /** Set once the hub exists (it needs the services first). */
  let discoveryRuns: DiscoveryRunService | undefined;
  return {
    ...base,
    setDiscoveryRuns(s: DiscoveryRunService) {
      discoveryRuns = s;
    },
    get discoveryRuns(): DiscoveryRunService {
      if (!discoveryRuns) throw new Error('discovery runs are not wired');
      return discoveryRuns;
    },
  };
}
export type Services = ReturnType<typeof createServices>;
