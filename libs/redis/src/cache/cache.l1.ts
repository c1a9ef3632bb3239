/** One in-process copy of a decoded value. */
export interface L1Entry {
  value: unknown;
  /** Logical expiry of the value (0 = none). */
  expiresAt: number;
  /** When this copy stops being served from memory, whatever the value's own expiry. */
  until: number;
  /** Encoded tags of the value, so a tag invalidation can find the copies to drop. */
  tags: ReadonlyArray<readonly [string, string]>;
  /** Insertion order number: how young the entry is, for the LRU move on a hit. */
  stamp: number;
}

/**
 * A bounded LRU of decoded values keyed by the full logical cache key. Values are held by
 * reference (no copy, no parse on a hit): callers must not mutate what the cache returns.
 */
export class L1Cache {
  private readonly map = new Map<string, L1Entry>();
  private stamp = 0;

  constructor(
    private readonly maxEntries: number,
    readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, now: number): L1Entry | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.until || (entry.expiresAt !== 0 && now >= entry.expiresAt)) {
      this.map.delete(key);
      return undefined;
    }
    // Re-inserting moves the key to the young end of the Map's insertion order. An entry still in
    // the younger half is not moved: it is far from eviction, and the move is most of a hit's cost.
    if (entry.stamp < this.stamp - (this.maxEntries >> 1)) {
      this.map.delete(key);
      entry.stamp = ++this.stamp;
      this.map.set(key, entry);
    }
    return entry;
  }

  set(key: string, value: unknown, expiresAt: number, tags: ReadonlyArray<readonly [string, string]>, now: number): void {
    const until = now + this.ttlMs;
    this.map.delete(key);
    this.map.set(key, { value, expiresAt, until: expiresAt !== 0 && expiresAt < until ? expiresAt : until, tags, stamp: ++this.stamp });
    if (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** Drops every copy whose key starts with `prefix` and passes `also` (all of them without it). */
  deleteWhere(prefix: string, also?: (key: string, entry: L1Entry) => boolean): void {
    for (const [key, entry] of this.map) if (key.startsWith(prefix) && (!also || also(key, entry))) this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
