/**
 * Keys known to be refused until a time, so a client hammering a blocked route costs no Redis call
 * until it could pass again. Bounded LRU (Map order, refreshed on hit): a flood of distinct
 * blocked subjects evicts the oldest rather than growing without bound.
 */
export class BlockCache {
  private readonly entries = new Map<string, { until: number; cost: number }>();

  constructor(private readonly maxEntries: number) {}

  /** Records that `key` refuses requests of `cost` (or more) until `until` (local clock, ms). */
  block(key: string, until: number, cost: number): void {
    this.entries.delete(key);
    this.entries.set(key, { until, cost });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** Milliseconds `key` stays blocked for a request of `cost`, or 0. */
  blockedFor(key: string, cost: number, now: number): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    if (entry.until <= now) {
      this.entries.delete(key);
      return 0;
    }
    // A cheaper request than the one refused may still fit: ask Redis.
    if (cost < entry.cost) return 0;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.until - now;
  }

  get size(): number {
    return this.entries.size;
  }
}
