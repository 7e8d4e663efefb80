/**
 * Binary min-heap of monitors by (due time, monitor id), with an index so one monitor's entry can
 * be moved or removed in O(log n) when its assignment changes. The id tie-break keeps the order of
 * monitors due in the same millisecond deterministic.
 */
export interface DueEntry<T> {
  due: number;
  id: number;
  value: T;
}

export interface DueHeap<T> {
  readonly size: number;
  /** Inserts, or moves the existing entry for `id` to the new due time and value. */
  set(id: number, due: number, value: T): void;
  get(id: number): DueEntry<T> | undefined;
  remove(id: number): DueEntry<T> | undefined;
  peek(): DueEntry<T> | undefined;
  pop(): DueEntry<T> | undefined;
  ids(): IterableIterator<number>;
  clear(): void;
}

export function createDueHeap<T>(): DueHeap<T> {
  const items: DueEntry<T>[] = [];
  const index = new Map<number, number>();

  const less = (a: DueEntry<T>, b: DueEntry<T>): boolean => a.due < b.due || (a.due === b.due && a.id < b.id);

  const place = (i: number, e: DueEntry<T>): void => {
    items[i] = e;
    index.set(e.id, i);
  };

  const up = (i: number): void => {
    const e = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!less(e, parent)) break;
      place(i, parent);
      i = p;
    }
    place(i, e);
  };

  const down = (i: number): void => {
    const n = items.length;
    const e = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(items[r]!, items[l]!) ? r : l;
      const child = items[c]!;
      if (!less(child, e)) break;
      place(i, child);
      i = c;
    }
    place(i, e);
  };

  const removeAt = (i: number): DueEntry<T> => {
    const e = items[i]!;
    index.delete(e.id);
    const last = items.pop()!;
    if (i < items.length) {
      place(i, last);
      if (i > 0 && less(last, items[(i - 1) >> 1]!)) up(i);
      else down(i);
    }
    return e;
  };

  return {
    get size() {
      return items.length;
    },
    set(id, due, value) {
      const i = index.get(id);
      if (i === undefined) {
        items.push({ due, id, value });
        up(items.length - 1);
        return;
      }
      const e = items[i]!;
      const old = e.due;
      e.due = due;
      e.value = value;
      if (due < old) up(i);
      else if (due > old) down(i);
    },
    get(id) {
      const i = index.get(id);
      return i === undefined ? undefined : items[i];
    },
    remove(id) {
      const i = index.get(id);
      return i === undefined ? undefined : removeAt(i);
    },
    peek: () => items[0],
    pop: () => (items.length === 0 ? undefined : removeAt(0)),
    ids: () => index.keys(),
    clear() {
      items.length = 0;
      index.clear();
    },
  };
}
