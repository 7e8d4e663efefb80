import { EventEmitter } from 'node:events';

/** In-process events from services and the hub to the assignment service and caches. */
export interface ServerEvents {
  /** id 0: monitors changed in bulk, on `agent_id`'s devices or (without it) anywhere. */
  'monitor.changed': { id: number; deleted?: boolean; agent_id?: number };
  'device.status_changed': { id: number; status: string };
  /** Where the device is polled changed (port, use_ssl): its agent's assignments are re-read. */
  'device.changed': { id: number };
  'credential.changed': { id: number; version: number; deleted?: boolean };
  /** A plugin's type or config changed: every monitor using it gets a new assignment. */
  'plugin.changed': { id: number };
  /** A session authenticated and was welcomed; `connection` identifies that session. */
  'agent.online': { id: number; connection: number };
  /** The agent's current session ended (a replaced session emits nothing). */
  'agent.offline': { id: number; connection: number };
  'agent.disabled': { id: number };
  'agent.deleted': { id: number };
  /** New keys replaced the agent's old ones. */
  'agent.reenrolled': { id: number };
}

export interface EventBus {
  emit<K extends keyof ServerEvents>(name: K, payload: ServerEvents[K]): void;
  on<K extends keyof ServerEvents>(name: K, fn: (payload: ServerEvents[K]) => void): () => void;
}

export function createEventBus(): EventBus {
  const ee = new EventEmitter();
  ee.setMaxListeners(100);
  return {
    emit: (name, payload) => void ee.emit(name, payload),
    on(name, fn) {
      ee.on(name, fn as (p: unknown) => void);
      return () => void ee.off(name, fn as (p: unknown) => void);
    },
  };
}
