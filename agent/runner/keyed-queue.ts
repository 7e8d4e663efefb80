/**
 * FIFO work per key (one key per target) with a cap on how many items of one key run at once.
 * `next()` serves keys round-robin so one busy target cannot starve the others. O(1) per item.
 */
export interface KeyedQueue<T> {
  push(key: string, item: T): void;
  /** The next item whose key has a free slot, marking the slot taken; undefined when none can start. */
  next(): { key: string; item: T } | undefined;
  /** A running item of `key` finished: frees its slot. */
  done(key: string): void;
  /** Removes and returns every waiting item. */
  drain(): T[];
  readonly waiting: number;
}

export function createKeyedQueue<T>(perKey: number): KeyedQueue<T> {
  const queues = new Map<string, T[]>();
  const running = new Map<string, number>();
  const ready: string[] = [];
  let readyHead = 0;
  const inReady = new Set<string>();
  let waiting = 0;

  const markReady = (key: string): void => {
    if (inReady.has(key)) return;
    if ((running.get(key) ?? 0) >= perKey || !queues.get(key)?.length) return;
    inReady.add(key);
    ready.push(key);
  };

  return {
    push(key, item) {
      let q = queues.get(key);
      if (!q) queues.set(key, (q = []));
      q.push(item);
      waiting++;
      markReady(key);
    },
    next() {
      while (readyHead < ready.length) {
        const key = ready[readyHead++]!;
        if (readyHead > 1024 && readyHead * 2 > ready.length) {
          ready.splice(0, readyHead);
          readyHead = 0;
        }
        inReady.delete(key);
        const q = queues.get(key);
        const r = running.get(key) ?? 0;
        if (!q?.length || r >= perKey) continue;
        const item = q.shift()!;
        waiting--;
        if (q.length === 0) queues.delete(key);
        running.set(key, r + 1);
        markReady(key);
        return { key, item };
      }
      return undefined;
    },
    done(key) {
      const r = (running.get(key) ?? 1) - 1;
      if (r <= 0) running.delete(key);
      else running.set(key, r);
      markReady(key);
    },
    drain() {
      const all: T[] = [];
      for (const q of queues.values()) all.push(...q);
      queues.clear();
      ready.length = 0;
      readyHead = 0;
      inReady.clear();
      waiting = 0;
      return all;
    },
    get waiting() {
      return waiting;
    },
  };
}
