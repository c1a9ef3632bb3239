import { MemoryLimitError } from '../redis.errors.js';
import { ExpiryHeap } from './memory-store.expiry.js';
import type { StreamData } from './memory-store.streams.js';
import { StoreTypeError, WRONGTYPE } from './memory-store.errors.js';

export type Value =
  | { type: 'string'; data: string }
  | { type: 'hash'; data: Map<string, string> }
  | { type: 'set'; data: Set<string> }
  | { type: 'zset'; data: Map<string, number> }
  | { type: 'list'; data: string[] }
  | { type: 'stream'; data: StreamData };

export interface Entry {
  value: Value;
  /** Epoch ms; 0 = no expiry. */
  expiresAt: number;
  bytes: number;
}

export { StoreTypeError, WRONGTYPE } from './memory-store.errors.js';

// Per-entry bookkeeping (Map slot, object headers) so a store of tiny entries is still bounded.
const ENTRY_OVERHEAD = 48;

export interface MemoryStoreStats {
  entries: number;
  bytes: number;
  evictions: number;
  expirations: number;
}

/**
 * The entry table under `MemoryStore`: the keys, their byte accounting, LRU order and expiry.
 * The data-type operations live in `MemoryStore` and reach entries only through the protected
 * helpers here, so the bounds (entries, bytes) and the LRU refresh are enforced in one place.
 *
 * Bounded by entries and bytes with LRU eviction (Map insertion order, refreshed on access).
 * Expiry is lazy on access plus a min-heap drained a little on every write: no timer per key.
 */
export class MemoryStoreEntries {
  private readonly entries = new Map<string, Entry>();
  /**
   * Walks `entries` from the oldest: evictions take from the front, and a fresh `keys()` iterator
   * would skip every slot freed since the map last compacted (quadratic at a large bound). Map
   * iterators are live: entries touched since move to the end, ahead of it; what it passed is gone.
   */
  private oldestCursor?: MapIterator<string>;
  private readonly heap = new ExpiryHeap(this.entries);
  private bytes = 0;
  private evictions = 0;
  private expirations = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    readonly now: () => number = Date.now,
  ) {}

  stats(): MemoryStoreStats {
    return { entries: this.entries.size, bytes: this.bytes, evictions: this.evictions, expirations: this.expirations };
  }

  /** Live keys in insertion/LRU order; the snapshot is taken up front so callers may mutate. */
  keys(): string[] {
    const now = this.now();
    const out: string[] = [];
    for (const [key, entry] of this.entries) if (entry.expiresAt === 0 || entry.expiresAt > now) out.push(key);
    return out;
  }

  clear(): void {
    this.entries.clear();
    this.oldestCursor = undefined;
    this.heap.clear();
    this.bytes = 0;
  }

  /** The live entry, refreshed as most recently used; expired entries are dropped on sight. */
  protected live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== 0 && entry.expiresAt <= this.now()) {
      this.remove(key, entry);
      this.expirations++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  protected typed<T extends Value['type']>(entry: Entry, type: T): Extract<Value, { type: T }> {
    if (entry.value.type !== type) throw new StoreTypeError(WRONGTYPE);
    return entry.value as Extract<Value, { type: T }>;
  }

  protected container<T extends 'hash' | 'set' | 'zset' | 'list' | 'stream'>(key: string, type: T, make: () => Extract<Value, { type: T }>['data']) {
    let entry = this.live(key);
    if (!entry) {
      entry = { value: { type, data: make() } as Value, expiresAt: 0, bytes: ENTRY_OVERHEAD + key.length };
      this.entries.set(key, entry);
      this.bytes += entry.bytes;
    }
    return { entry, data: (this.typed(entry, type) as { data: unknown }).data as Extract<Value, { type: T }>['data'] };
  }

  protected write(key: string, value: Value, expiresAt: number, size: number): void {
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.bytes;
    }
    const entry: Entry = { value, expiresAt, bytes: ENTRY_OVERHEAD + size };
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    if (expiresAt !== 0 && expiresAt !== old?.expiresAt) this.heap.push(expiresAt, key);
    this.enforceBounds(key);
  }

  protected grow(key: string, entry: Entry, delta: number): void {
    entry.bytes += delta;
    this.bytes += delta;
    this.enforceBounds(key);
  }

  protected shrink(key: string, entry: Entry, delta: number, remaining: number): void {
    entry.bytes += delta;
    this.bytes += delta;
    // Like Redis, an emptied aggregate is no key at all.
    if (remaining === 0) this.remove(key, entry);
  }

  protected setExpiry(key: string, entry: Entry, at: number): void {
    entry.expiresAt = at;
    this.heap.push(at, key);
  }

  protected remove(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  private enforceBounds(justWritten: string): void {
    this.sweepExpired(16);
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      let step = (this.oldestCursor ??= this.entries.keys()).next();
      if (step.done) step = (this.oldestCursor = this.entries.keys()).next();
      const oldest = step.value as string | undefined;
      if (oldest === undefined) break;
      const entry = this.entries.get(oldest)!;
      if (oldest === justWritten) {
        this.remove(oldest, entry);
        throw new MemoryLimitError(`an entry of about ${entry.bytes} bytes cannot fit in the in-memory store (memory.maxBytes = ${this.maxBytes})`);
      }
      this.remove(oldest, entry);
      this.evictions++;
    }
  }

  private sweepExpired(budget: number): void {
    const now = this.now();
    while (budget-- > 0) {
      const due = this.heap.popDue(now);
      if (!due) break;
      const entry = this.entries.get(due.key);
      if (entry && entry.expiresAt === due.at) {
        this.remove(due.key, entry);
        this.expirations++;
      }
    }
  }
}
