import { MemoryLimitError } from '../redis.errors.js';
import { ExpiryHeap } from './memory-store.expiry.js';
import type { ZEntry } from './store-engine.types.js';

type Value =
  | { type: 'string'; data: string }
  | { type: 'hash'; data: Map<string, string> }
  | { type: 'set'; data: Set<string> }
  | { type: 'zset'; data: Map<string, number> }
  | { type: 'list'; data: string[] };

interface Entry {
  value: Value;
  /** Epoch ms; 0 = no expiry. */
  expiresAt: number;
  bytes: number;
}

/** Redis' own wording, so callers and the contract suite see the same errors from both engines. */
export const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const NOT_INTEGER = 'ERR value is not an integer or out of range';

export class StoreTypeError extends Error {}

// Per-entry bookkeeping (Map slot, object headers) so a store of tiny entries is still bounded.
const ENTRY_OVERHEAD = 48;

export interface MemoryStoreStats {
  entries: number;
  bytes: number;
  evictions: number;
  expirations: number;
}

/**
 * The synchronous data structure behind `MemoryEngine`, also the surface the scripts' TypeScript
 * twins run against: a twin runs to completion on one tick, which makes it as atomic as Lua.
 *
 * Bounded by entries and bytes with LRU eviction (Map insertion order, refreshed on access).
 * Expiry is lazy on access plus a min-heap drained a little on every write: no timer per key.
 */
export class MemoryStore {
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

  // ---- generic ------------------------------------------------------------------------------

  exists(key: string): boolean {
    return this.live(key) !== undefined;
  }

  del(key: string): number {
    const entry = this.live(key);
    if (!entry) return 0;
    this.remove(key, entry);
    return 1;
  }

  pttl(key: string): number {
    const entry = this.live(key);
    if (!entry) return -2;
    return entry.expiresAt === 0 ? -1 : Math.max(0, entry.expiresAt - this.now());
  }

  pexpire(key: string, ttlMs: number): boolean {
    const entry = this.live(key);
    if (!entry) return false;
    if (ttlMs <= 0) {
      this.remove(key, entry);
      return true;
    }
    this.setExpiry(key, entry, this.now() + ttlMs);
    return true;
  }

  persist(key: string): boolean {
    const entry = this.live(key);
    if (!entry || entry.expiresAt === 0) return false;
    entry.expiresAt = 0;
    return true;
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

  // ---- strings ------------------------------------------------------------------------------

  get(key: string): string | null {
    const entry = this.live(key);
    if (!entry) return null;
    return this.typed(entry, 'string').data;
  }

  set(key: string, value: string, options: { ttlMs?: number; nx?: boolean; xx?: boolean; keepTtl?: boolean } = {}): boolean {
    const existing = this.live(key);
    if (options.nx && existing) return false;
    if (options.xx && !existing) return false;
    const expiresAt = options.ttlMs && options.ttlMs > 0 ? this.now() + options.ttlMs : options.keepTtl && existing ? existing.expiresAt : 0;
    this.write(key, { type: 'string', data: value }, expiresAt, key.length + value.length);
    return true;
  }

  incrBy(key: string, by: number): number {
    const entry = this.live(key);
    const raw = entry ? this.typed(entry, 'string').data : '0';
    if (!/^-?\d+$/.test(raw)) throw new StoreTypeError(NOT_INTEGER);
    const next = Number(raw) + by;
    if (!Number.isSafeInteger(next)) throw new StoreTypeError(NOT_INTEGER);
    const text = String(next);
    this.write(key, { type: 'string', data: text }, entry?.expiresAt ?? 0, key.length + text.length);
    return next;
  }

  // ---- hashes -------------------------------------------------------------------------------

  hget(key: string, field: string): string | null {
    const entry = this.live(key);
    if (!entry) return null;
    return this.typed(entry, 'hash').data.get(field) ?? null;
  }

  hgetall(key: string): Record<string, string> {
    const entry = this.live(key);
    if (!entry) return {};
    return Object.fromEntries(this.typed(entry, 'hash').data);
  }

  hset(key: string, fields: Readonly<Record<string, string>>): number {
    const { entry, data } = this.container(key, 'hash', () => new Map<string, string>());
    let added = 0;
    let delta = 0;
    for (const [field, value] of Object.entries(fields)) {
      const old = data.get(field);
      if (old === undefined) {
        added++;
        delta += field.length + value.length;
      } else delta += value.length - old.length;
      data.set(field, value);
    }
    this.grow(key, entry, delta);
    return added;
  }

  hdel(key: string, fields: readonly string[]): number {
    const entry = this.live(key);
    if (!entry) return 0;
    const data = this.typed(entry, 'hash').data;
    let removed = 0;
    let delta = 0;
    for (const field of fields) {
      const old = data.get(field);
      if (old === undefined) continue;
      data.delete(field);
      removed++;
      delta -= field.length + old.length;
    }
    this.shrink(key, entry, delta, data.size);
    return removed;
  }

  hincrBy(key: string, field: string, by: number): number {
    const current = this.hget(key, field);
    if (current !== null && !/^-?\d+$/.test(current)) throw new StoreTypeError('ERR hash value is not an integer');
    const next = Number(current ?? 0) + by;
    this.hset(key, { [field]: String(next) });
    return next;
  }

  // ---- sets ---------------------------------------------------------------------------------

  sadd(key: string, members: readonly string[]): number {
    const { entry, data } = this.container(key, 'set', () => new Set<string>());
    let added = 0;
    let delta = 0;
    for (const m of members) {
      if (data.has(m)) continue;
      data.add(m);
      added++;
      delta += m.length;
    }
    this.grow(key, entry, delta);
    return added;
  }

  srem(key: string, members: readonly string[]): number {
    const entry = this.live(key);
    if (!entry) return 0;
    const data = this.typed(entry, 'set').data;
    let removed = 0;
    let delta = 0;
    for (const m of members) {
      if (!data.delete(m)) continue;
      removed++;
      delta -= m.length;
    }
    this.shrink(key, entry, delta, data.size);
    return removed;
  }

  smembers(key: string): string[] {
    const entry = this.live(key);
    return entry ? [...this.typed(entry, 'set').data] : [];
  }

  sismember(key: string, member: string): boolean {
    const entry = this.live(key);
    return entry ? this.typed(entry, 'set').data.has(member) : false;
  }

  // ---- sorted sets --------------------------------------------------------------------------

  zadd(key: string, entries: readonly ZEntry[]): number {
    const { entry, data } = this.container(key, 'zset', () => new Map<string, number>());
    let added = 0;
    let delta = 0;
    for (const { member, score } of entries) {
      if (!data.has(member)) {
        added++;
        delta += member.length + 8;
      }
      data.set(member, score);
    }
    this.grow(key, entry, delta);
    return added;
  }

  zincrby(key: string, by: number, member: string): number {
    const next = (this.zscore(key, member) ?? 0) + by;
    this.zadd(key, [{ member, score: next }]);
    return next;
  }

  zrem(key: string, members: readonly string[]): number {
    const entry = this.live(key);
    if (!entry) return 0;
    const data = this.typed(entry, 'zset').data;
    let removed = 0;
    let delta = 0;
    for (const m of members) {
      if (!data.delete(m)) continue;
      removed++;
      delta -= m.length + 8;
    }
    this.shrink(key, entry, delta, data.size);
    return removed;
  }

  zscore(key: string, member: string): number | null {
    const entry = this.live(key);
    if (!entry) return null;
    return this.typed(entry, 'zset').data.get(member) ?? null;
  }

  zcard(key: string): number {
    const entry = this.live(key);
    return entry ? this.typed(entry, 'zset').data.size : 0;
  }

  zrange(key: string, start: number, stop: number, reverse = false): ZEntry[] {
    const sorted = this.sortedZ(key, reverse);
    const n = sorted.length;
    let from = start < 0 ? Math.max(0, n + start) : start;
    const to = stop < 0 ? n + stop : Math.min(stop, n - 1);
    if (from > to || from >= n) return [];
    from = Math.max(0, from);
    return sorted.slice(from, to + 1);
  }

  zrangeByScore(key: string, min: number, max: number, limit?: number): ZEntry[] {
    const out = this.sortedZ(key, false).filter((e) => e.score >= min && e.score <= max);
    return limit === undefined ? out : out.slice(0, limit);
  }

  zremRangeByScore(key: string, min: number, max: number): number {
    const doomed = this.zrangeByScore(key, min, max).map((e) => e.member);
    return doomed.length === 0 ? 0 : this.zrem(key, doomed);
  }

  // ---- collections: lists, hash size, multi-field reads, rank (issue 17) -----------------------

  /** LPUSH/RPUSH (+ LTRIM to `cap` newest): `values` land one by one, so LPUSH reverses them, as Redis does. */
  push(key: string, values: readonly string[], side: 'left' | 'right', cap?: number): number {
    if (values.length === 0) return this.llen(key);
    const { entry, data } = this.container(key, 'list', () => [] as string[]);
    let delta = 0;
    for (const v of values) {
      if (side === 'left') data.unshift(v);
      else data.push(v);
      delta += v.length + 8;
    }
    this.grow(key, entry, delta);
    if (cap !== undefined && cap > 0 && data.length > cap) {
      if (side === 'left') this.ltrim(key, 0, cap - 1);
      else this.ltrim(key, -cap, -1);
    }
    return Math.min(data.length, cap !== undefined && cap > 0 ? cap : Infinity);
  }

  lrange(key: string, start: number, stop: number): string[] {
    const entry = this.live(key);
    if (!entry) return [];
    const data = this.typed(entry, 'list').data;
    const [from, to] = listRange(data.length, start, stop);
    return from > to ? [] : data.slice(from, to + 1);
  }

  llen(key: string): number {
    const entry = this.live(key);
    return entry ? this.typed(entry, 'list').data.length : 0;
  }

  ltrim(key: string, start: number, stop: number): void {
    const entry = this.live(key);
    if (!entry) return;
    const data = this.typed(entry, 'list').data;
    const [from, to] = listRange(data.length, start, stop);
    const kept = from > to ? [] : data.slice(from, to + 1);
    let delta = 0;
    for (const v of data) delta -= v.length + 8;
    for (const v of kept) delta += v.length + 8;
    data.length = 0;
    data.push(...kept);
    this.shrink(key, entry, delta, data.length);
  }

  lrem(key: string, count: number, value: string): number {
    const entry = this.live(key);
    if (!entry) return 0;
    const data = this.typed(entry, 'list').data;
    const limit = count === 0 ? Infinity : Math.abs(count);
    let removed = 0;
    if (count >= 0) {
      for (let i = 0; i < data.length && removed < limit; ) {
        if (data[i] === value) {
          data.splice(i, 1);
          removed++;
        } else i++;
      }
    } else {
      for (let i = data.length - 1; i >= 0 && removed < limit; i--) {
        if (data[i] === value) {
          data.splice(i, 1);
          removed++;
        }
      }
    }
    this.shrink(key, entry, -removed * (value.length + 8), data.length);
    return removed;
  }

  hlen(key: string): number {
    const entry = this.live(key);
    return entry ? this.typed(entry, 'hash').data.size : 0;
  }

  hmget(key: string, fields: readonly string[]): (string | null)[] {
    const entry = this.live(key);
    if (!entry) return fields.map(() => null);
    const data = this.typed(entry, 'hash').data;
    return fields.map((f) => data.get(f) ?? null);
  }

  zrank(key: string, member: string, reverse = false): number | null {
    if (this.zscore(key, member) === null) return null;
    return this.sortedZ(key, reverse).findIndex((e) => e.member === member);
  }

  // ---- end of collections ---------------------------------------------------------------------

  // ---- internals ----------------------------------------------------------------------------

  private sortedZ(key: string, reverse: boolean): ZEntry[] {
    const entry = this.live(key);
    if (!entry) return [];
    const list = [...this.typed(entry, 'zset').data].map(([member, score]) => ({ member, score }));
    // Redis orders equal scores by member bytes; code-unit order matches for the ASCII we store.
    list.sort((a, b) => a.score - b.score || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
    return reverse ? list.reverse() : list;
  }

  /** The live entry, refreshed as most recently used; expired entries are dropped on sight. */
  private live(key: string): Entry | undefined {
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

  private typed<T extends Value['type']>(entry: Entry, type: T): Extract<Value, { type: T }> {
    if (entry.value.type !== type) throw new StoreTypeError(WRONGTYPE);
    return entry.value as Extract<Value, { type: T }>;
  }

  private container<T extends 'hash' | 'set' | 'zset' | 'list'>(key: string, type: T, make: () => Extract<Value, { type: T }>['data']) {
    let entry = this.live(key);
    if (!entry) {
      entry = { value: { type, data: make() } as Value, expiresAt: 0, bytes: ENTRY_OVERHEAD + key.length };
      this.entries.set(key, entry);
      this.bytes += entry.bytes;
    }
    return { entry, data: (this.typed(entry, type) as { data: unknown }).data as Extract<Value, { type: T }>['data'] };
  }

  private write(key: string, value: Value, expiresAt: number, size: number): void {
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

  private grow(key: string, entry: Entry, delta: number): void {
    entry.bytes += delta;
    this.bytes += delta;
    this.enforceBounds(key);
  }

  private shrink(key: string, entry: Entry, delta: number, remaining: number): void {
    entry.bytes += delta;
    this.bytes += delta;
    // Like Redis, an emptied aggregate is no key at all.
    if (remaining === 0) this.remove(key, entry);
  }

  private setExpiry(key: string, entry: Entry, at: number): void {
    entry.expiresAt = at;
    this.heap.push(at, key);
  }

  private remove(key: string, entry: Entry): void {
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

/** LRANGE/LTRIM index normalisation: negatives count from the tail, both ends clamp to the list. */
function listRange(length: number, start: number, stop: number): [number, number] {
  let from = start < 0 ? length + start : start;
  let to = stop < 0 ? length + stop : stop;
  if (from < 0) from = 0;
  if (to >= length) to = length - 1;
  return [from, to];
}
