/** One scheduled expiry: the key and the deadline it had when scheduled. */
export interface ExpiryItem {
  at: number;
  key: string;
}

/**
 * Min-heap of expiry deadlines, so the store can drain due keys a little on every write instead of
 * keeping a timer per key. Items are never updated in place: a TTL change pushes a new item and the
 * old one goes stale, which the store recognises when it pops it (the entry's deadline differs).
 */
export class ExpiryHeap {
  private readonly items: ExpiryItem[] = [];

  /** The store's entries: read only to rebuild the heap once stale items dominate it. */
  constructor(private readonly entries: ReadonlyMap<string, { expiresAt: number }>) {}

  clear(): void {
    this.items.length = 0;
  }

  push(at: number, key: string): void {
    const heap = this.items;
    // Stale heap items (TTL changed, key gone) are skipped when popped; rebuild when they dominate.
    if (heap.length > 2 * this.entries.size + 1024) this.rebuild();
    heap.push({ at, key });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  /** The earliest item if its deadline has passed by `now`, taken off the heap; else undefined. */
  popDue(now: number): ExpiryItem | undefined {
    const heap = this.items;
    if (heap.length === 0 || heap[0]!.at > now) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.at < heap[m]!.at) m = l;
        if (r < heap.length && heap[r]!.at < heap[m]!.at) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  }

  private rebuild(): void {
    const heap = this.items;
    heap.length = 0;
    // One item at a time: spreading them into one push() call overflows the stack past ~125k.
    for (const [key, e] of this.entries) if (e.expiresAt !== 0) heap.push({ at: e.expiresAt, key });
    // A sorted array is a valid min-heap.
    heap.sort((a, b) => a.at - b.at);
  }
}
