import { EventEmitter } from 'node:events';

/** In-process events from services to the scheduler, hub and caches. */
export interface ServerEvents {
  'monitor.changed': { id: number; deleted?: boolean };
  'device.status_changed': { id: number; status: string };
  /** Where the device is polled changed (port, use_ssl): the scheduler re-reads it. */
  'device.changed': { id: number };
  'credential.changed': { id: number; version: number; deleted?: boolean };
  'agent.disabled': { id: number };
  'agent.deleted': { id: number };
  /** New keys replaced the agent's old ones. */
  'agent.reenrolled': { id: number };
  'metrics.written': { monitorIds: number[] };
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
