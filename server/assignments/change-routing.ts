import type { ServerMessage } from '../../shared/protocol/index.ts';
import type { EventBus } from '../events.ts';
import type { Log } from '../log.ts';
import type { AssignedMonitor, AssignmentStore } from './assignment-store.ts';

/** The assignment service as its change routing sees it. */
export interface RoutingTarget {
  /** Re-read soon (debounced) what changed in this agent's set (a monitor, a device, or all of it) and send the change. */
  markDirty(agentId: number, scope?: { monitor?: number; device?: number; credential?: number; plugin?: number }): void;
  ownerOf(monitorId: number): number | undefined;
  agentsUsing(pick: (a: AssignedMonitor) => boolean): number[];
  knownAgents(): number[];
  connected(agentId: number, connection: number): void;
  disconnected(agentId: number, connection: number): void;
  forget(agentId: number): void;
}

/**
 * Which agents' sets an event touches: a monitor's agent (before and after the change), a
 * device's agent, every agent holding a changed credential or plugin. Returns the unsubscribe.
 */
export function followChanges(o: {
  events: EventBus;
  store: Pick<AssignmentStore, 'agentOfMonitor' | 'agentOfDevice' | 'agentsWithMonitors'>;
  links: { send(agentId: number, msg: ServerMessage): boolean; onlineAgents(): number[] };
  sealer: { forgetProfile(profileId: number): void };
  log: Log;
  target: RoutingTarget;
}): () => void {
  const t = o.target;
  const route = (
    what: string,
    find: () => Promise<number | undefined>,
    scope: { monitor?: number; device?: number },
  ): void => {
    find().then(
      (id) => id !== undefined && t.markDirty(id, scope),
      (err: Error) => o.log.error({ err: err.message }, `assignments: routing ${what} failed`),
    );
  };
  const off = [
    o.events.on('monitor.changed', (e) => {
      if (e.id === 0 && e.agent_id !== undefined) return t.markDirty(e.agent_id);
      if (e.id === 0) {
        for (const id of new Set([...t.knownAgents(), ...o.links.onlineAgents()])) t.markDirty(id);
        // Agents with no assignments yet are found from the database.
        o.store.agentsWithMonitors().then(
          (ids) => ids.forEach((id) => t.markDirty(id, {})),
          (err: Error) => o.log.error({ err: err.message }, 'assignments: bulk reload failed'),
        );
        return;
      }
      const was = t.ownerOf(e.id);
      if (was !== undefined) t.markDirty(was, { monitor: e.id });
      if (!e.deleted) route('monitor change', () => o.store.agentOfMonitor(e.id), { monitor: e.id });
    }),
    o.events.on('device.status_changed', (e) =>
      route('device status change', () => o.store.agentOfDevice(e.id), { device: e.id }),
    ),
    o.events.on('device.changed', (e) => route('device change', () => o.store.agentOfDevice(e.id), { device: e.id })),
    o.events.on('credential.changed', (e) => {
      o.sealer.forgetProfile(e.id);
      for (const id of t.agentsUsing((a) => a.credential_profile_id === e.id)) t.markDirty(id, { credential: e.id });
      // Drops the agents' opened copies; the new version arrives sealed with the delta.
      for (const id of o.links.onlineAgents()) o.links.send(id, { type: 'credentials.invalidate', profile_id: e.id });
    }),
    o.events.on('plugin.changed', (e) => {
      for (const id of t.agentsUsing((a) => a.plugin_id === e.id)) t.markDirty(id, { plugin: e.id });
    }),
    o.events.on('agent.online', (e) => t.connected(e.id, e.connection)),
    o.events.on('agent.offline', (e) => t.disconnected(e.id, e.connection)),
    o.events.on('agent.deleted', (e) => t.forget(e.id)),
  ];
  return () => off.forEach((u) => u());
}
