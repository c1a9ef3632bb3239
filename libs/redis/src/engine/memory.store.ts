import { MemoryStoreEntries, StoreTypeError } from './memory-store.entries.js';
import { compareIds, nextStreamId, parseBound, type StreamData, type StreamId, type StreamItem } from './memory-store.streams.js';
import type { StreamEntry, ZEntry } from './store-engine.types.js';

// Callers import the store's errors and stats type from here, as they did before the split.
export { StoreTypeError, WRONGTYPE, type MemoryStoreStats } from './memory-store.entries.js';

const NOT_INTEGER = 'ERR value is not an integer or out of range';

/**
 * The synchronous data structure behind `MemoryEngine`, also the surface the scripts' TypeScript
 * twins run against: a twin runs to completion on one tick, which makes it as atomic as Lua.
 *
 * The operations per data type; the entries, their bounds, LRU order and expiry are in
 * `MemoryStoreEntries`.
 */
export class MemoryStore extends MemoryStoreEntries {
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

  // ---- streams (message history, issue 16) ----------------------------------------------------

  /** XADD `*` (+ MAXLEN = `maxLen`): ids from `nowMs`, strictly increasing even if the clock goes back. */
  xadd(key: string, fields: Readonly<Record<string, string>>, nowMs: number, maxLen?: number): string {
    const pairs = Object.entries(fields);
    if (pairs.length === 0) throw new StoreTypeError("ERR wrong number of arguments for 'xadd' command");
    const { entry, data } = this.container(key, 'stream', (): StreamData => ({ items: [], lastMs: 0, lastSeq: 0 }));
    const [ms, seq] = nextStreamId(data, nowMs);
    const id = `${ms}-${seq}`;
    let bytes = id.length + 16;
    for (const [f, v] of pairs) bytes += f.length + v.length;
    data.items.push({ ms, seq, id, fields: { ...fields }, bytes });
    data.lastMs = ms;
    data.lastSeq = seq;
    let delta = bytes;
    if (maxLen !== undefined && data.items.length > maxLen) {
      for (const gone of data.items.splice(0, data.items.length - Math.max(0, maxLen))) delta -= gone.bytes;
    }
    // A stream trimmed to nothing stays a key (it keeps its last id), as in Redis: grow, never shrink.
    this.grow(key, entry, delta);
    return id;
  }

  /** XRANGE (oldest first) or, with `reverse`, XREVRANGE (newest first) between two inclusive-or-`(` bounds. */
  xrange(key: string, low: string, high: string, count?: number, reverse = false): StreamEntry[] {
    const from = parseBound(low, 'low');
    const to = parseBound(high, 'high');
    const entry = this.live(key);
    if (!entry) return [];
    const items = this.typed(entry, 'stream').data.items;
    if (!from || !to || compareIds(from, to) > 0 || (count !== undefined && count <= 0)) return [];
    const out: StreamEntry[] = [];
    const limit = count ?? Infinity;
    const inRange = (item: StreamItem) => compareIds(id(item), from) >= 0 && compareIds(id(item), to) <= 0;
    if (reverse) {
      for (let i = items.length - 1; i >= 0 && out.length < limit; i--) if (inRange(items[i]!)) out.push(copy(items[i]!));
    } else {
      for (let i = 0; i < items.length && out.length < limit; i++) if (inRange(items[i]!)) out.push(copy(items[i]!));
    }
    return out;
  }

  xlen(key: string): number {
    const entry = this.live(key);
    return entry ? this.typed(entry, 'stream').data.items.length : 0;
  }

  // ---- end of streams ---------------------------------------------------------------------------

  private sortedZ(key: string, reverse: boolean): ZEntry[] {
    const entry = this.live(key);
    if (!entry) return [];
    const list = [...this.typed(entry, 'zset').data].map(([member, score]) => ({ member, score }));
    // Redis orders equal scores by member bytes; code-unit order matches for the ASCII we store.
    list.sort((a, b) => a.score - b.score || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
    return reverse ? list.reverse() : list;
  }
}

const id = (item: StreamItem): StreamId => [item.ms, item.seq];
const copy = (item: StreamItem): StreamEntry => ({ id: item.id, fields: { ...item.fields } });

/** LRANGE/LTRIM index normalisation: negatives count from the tail, both ends clamp to the list. */
function listRange(length: number, start: number, stop: number): [number, number] {
  let from = start < 0 ? length + start : start;
  let to = stop < 0 ? length + stop : stop;
  if (from < 0) from = 0;
  if (to >= length) to = length - 1;
  return [from, to];
}
