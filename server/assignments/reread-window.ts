import type { Subset } from './assignment-store.ts';

/** What one change names: a monitor, a device, a credential profile, a plugin, or (none) the agent's whole set. */
export interface ChangeScope {
  monitor?: number;
  device?: number;
  credential?: number;
  plugin?: number;
}

/** What a due re-read covers: the agent's whole set, or a subset of it. */
export type Reread = Subset & { all: boolean };

export const WHOLE_SET: Reread = Object.freeze({
  all: true,
  monitors: new Set<number>(),
  devices: new Set<number>(),
  credentials: new Set<number>(),
  plugins: new Set<number>(),
});

/** More things than this named in one window: one read of the whole set is cheaper. */
export const TARGETED_MAX = 1000;

interface Window extends Reread {
  monitors: Set<number>;
  devices: Set<number>;
  credentials: Set<number>;
  plugins: Set<number>;
  timer: NodeJS.Timeout;
  done: Promise<void>;
  resolve: () => void;
}

/**
 * Collects, per agent, what the changes of one window (`debounceMs` from the first) named, and
 * hands it to `due` once: many changes, one re-read. `pending(agentId)` resolves when every
 * change seen so far has been re-read, including a re-read still running after its window closed
 * (results wait on it, so a change made just before is honoured).
 */
export function createRereadWindow(o: { debounceMs: number; due(agentId: number, what: Reread): Promise<void> }) {
  const open = new Map<number, Window>();
  const running = new Map<number, Promise<void>>();

  return {
    mark(agentId: number, scope: ChangeScope = {}): void {
      let w = open.get(agentId);
      if (!w) {
        let resolve = () => {};
        const done = new Promise<void>((r) => (resolve = r));
        const created: Window = {
          all: false,
          monitors: new Set(),
          devices: new Set(),
          credentials: new Set(),
          plugins: new Set(),
          timer: undefined as unknown as NodeJS.Timeout,
          done,
          resolve,
        };
        created.timer = setTimeout(() => {
          open.delete(agentId);
          running.set(agentId, done);
          void o.due(agentId, created).then(resolve, resolve);
          void done.then(() => running.get(agentId) === done && running.delete(agentId));
        }, o.debounceMs);
        open.set(agentId, (w = created));
      }
      if (w.all) return;
      if (scope.monitor !== undefined) w.monitors.add(scope.monitor);
      else if (scope.device !== undefined) w.devices.add(scope.device);
      else if (scope.credential !== undefined) w.credentials.add(scope.credential);
      else if (scope.plugin !== undefined) w.plugins.add(scope.plugin);
      else w.all = true;
      if (w.all || w.monitors.size + w.devices.size + w.credentials.size + w.plugins.size > TARGETED_MAX) {
        w.all = true;
        for (const x of [w.monitors, w.devices, w.credentials, w.plugins]) x.clear();
      }
    },
    // An open window's re-read runs after the running one (one chain per agent): waiting on it is enough.
    pending: (agentId: number): Promise<void> | undefined => open.get(agentId)?.done ?? running.get(agentId),
    pendingAll: (): Promise<void>[] => [...[...open.values()].map((w) => w.done), ...running.values()],
    /** Drops the agent's open window (a deleted agent). */
    cancel(agentId: number): void {
      const w = open.get(agentId);
      if (!w) return;
      clearTimeout(w.timer);
      open.delete(agentId);
      w.resolve();
    },
    stop(): void {
      for (const id of [...open.keys()]) this.cancel(id);
    },
  };
}
