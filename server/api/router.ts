import { agentsRouter } from './routers/agents.ts';
import { auditLogRouter } from './routers/audit-log.ts';
import { authRouter } from './routers/auth.ts';
import { credentialProfilesRouter } from './routers/credential-profiles.ts';
import { devicesRouter } from './routers/devices.ts';
import { discoveryProfilesRouter } from './routers/discovery-profiles.ts';
import { healthRouter } from './routers/health.ts';
import { monitorsRouter } from './routers/monitors.ts';
import { pluginsRouter } from './routers/plugins.ts';
import { router } from './trpc.ts';

export const appRouter = router({
  auth: authRouter,
  health: healthRouter,
  credentialProfiles: credentialProfilesRouter,
  discoveryProfiles: discoveryProfilesRouter,
  devices: devicesRouter,
  plugins: pluginsRouter,
  monitors: monitorsRouter,
  agents: agentsRouter,
  auditLog: auditLogRouter,
});
export type AppRouter = typeof appRouter;
