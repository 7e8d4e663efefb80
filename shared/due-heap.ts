/**
 * Binary min-heap keyed by (due, id): the agent's poll schedule and the server's expectation
 * tracker both keep their monitors in one. Intrusive: each item carries its own heap position, so an
 * item is moved or removed in O(log n) without an index map (100,000 items cost one array).
 * The id tie-break makes the pop order deterministic for items due in the same millisecond.
 */
export interface DueItem {
  due: number;
  readonly id: number;
  /** Position in the heap, -1 when not in it. Owned by the heap. */
  pos: number;
}

export interface DueHeap<T extends DueItem> {
  readonly size: number;
  /** Inserts `item`, or moves it if it is in the heap already. */
  set(item: T, due: number): void;
  remove(item: T): void;
  peek(): T | undefined;
  pop(): T | undefined;
}

export function createDueHeap<T extends DueItem>(): DueHeap<T> {
  const items: T[] = [];
  const less = (a: T, b: T): boolean => a.due < b.due || (a.due === b.due && a.id < b.id);
  const place = (i: number, e: T): void => {
    items[i] = e;
    e.pos = i;
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
  const removeAt = (i: number): T => {
    const e = items[i]!;
    const last = items.pop()!;
    if (i < items.length) {
      place(i, last);
      if (i > 0 && less(last, items[(i - 1) >> 1]!)) up(i);
      else down(i);
    }
    e.pos = -1;
    return e;
  };
  return {
    get size() {
      return items.length;
    },
    set(item, due) {
      if (item.pos < 0 || items[item.pos] !== item) {
        item.due = due;
        items.push(item);
        up(items.length - 1);
        return;
      }
      const old = item.due;
      item.due = due;
      if (due < old) up(item.pos);
      else if (due > old) down(item.pos);
    },
    remove(item) {
      if (item.pos >= 0 && items[item.pos] === item) removeAt(item.pos);
    },
    peek: () => items[0],
    pop: () => (items.length === 0 ? undefined : removeAt(0)),
  };
}
