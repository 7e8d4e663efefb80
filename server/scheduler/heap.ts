/**
 * Binary min-heap of monitors keyed by (due time, monitor id), with an index map so a monitor's
 * entry can be moved or removed in O(log n) when the API changes it.
 * The id tie-break makes the pop order deterministic for monitors due in the same millisecond.
 */
export interface HeapEntry<T> {
  due: number;
  id: number;
  value: T;
}

export interface DueHeap<T> {
  readonly size: number;
  /** Inserts, or moves the existing entry for `id` to the new due time and value. */
  set(id: number, due: number, value: T): void;
  get(id: number): HeapEntry<T> | undefined;
  has(id: number): boolean;
  remove(id: number): HeapEntry<T> | undefined;
  peek(): HeapEntry<T> | undefined;
  pop(): HeapEntry<T> | undefined;
  /** Pops every entry whose due time is <= `now`, in order. */
  popDue(now: number, limit?: number): HeapEntry<T>[];
  ids(): IterableIterator<number>;
  clear(): void;
}

export function createDueHeap<T>(): DueHeap<T> {
  const items: HeapEntry<T>[] = [];
  const index = new Map<number, number>();

  const less = (a: HeapEntry<T>, b: HeapEntry<T>): boolean =>
    a.due < b.due || (a.due === b.due && a.id < b.id);

  const place = (i: number, e: HeapEntry<T>): void => {
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
      let c = l;
      if (r < n && less(items[r]!, items[l]!)) c = r;
      const child = items[c]!;
      if (!less(child, e)) break;
      place(i, child);
      i = c;
    }
    place(i, e);
  };

  const removeAt = (i: number): HeapEntry<T> => {
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
    has(id) {
      return index.has(id);
    },
    remove(id) {
      const i = index.get(id);
      return i === undefined ? undefined : removeAt(i);
    },
    peek() {
      return items[0];
    },
    pop() {
      return items.length === 0 ? undefined : removeAt(0);
    },
    popDue(now, limit = Infinity) {
      const out: HeapEntry<T>[] = [];
      while (out.length < limit && items.length > 0 && items[0]!.due <= now) out.push(removeAt(0));
      return out;
    },
    ids() {
      return index.keys();
    },
    clear() {
      items.length = 0;
      index.clear();
    },
  };
}
