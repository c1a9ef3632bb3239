import { toMs, type Duration } from '../duration.js';
import { decodeValue, encodeValue } from './collections.codec.js';
import { checkEntryKey } from './collections.keys.js';
import type { CollectionContext } from './collections.policy.js';

/** A key of a `RedisMap`: strings as they are, numbers stored as their decimal text. */
export type MapKey = string | number;

/** Options of a batch write to a `RedisMap`. */
export interface SetManyOptions {
  /** `false` keeps entries that already exist (HSETNX / SET NX); default `true`. */
  overwrite?: boolean;
}

/**
 * An async `Map` in Redis, shared by every instance. Values are JSON through the cache's envelope
 * (Date, Map, Set, BigInt survive); keys are strings (numbers become their decimal text).
 *
 * Storage: without `ttl`, one Redis hash for the whole map: `size` is HLEN, `clear` one DEL, and a
 * batch of writes is one atomic script. With `ttl`, one key per entry (a Redis 7.0 hash cannot
 * expire single fields): `size`, `entries` and `clear` then walk the map's keys with SCAN, all on one
 * hash slot. Both forms keep every key under the collection's hash tag.
 */
export class RedisMap<V = unknown> {
  private readonly ttlMs: number;
  private readonly hash: string;

  constructor(
    /** @internal */ readonly ctx: CollectionContext,
    ttl?: Duration,
  ) {
    this.ttlMs = ttl === undefined ? 0 : toMs(ttl, `the ttl of map ${JSON.stringify(ctx.name)}`);
    this.hash = ctx.keys.of('map');
  }

  get name(): string {
    return this.ctx.name;
  }

  /** True when each entry is its own key with a TTL (and the map cannot be written in atomic batches). */
  get perEntryTtl(): boolean {
    return this.ttlMs > 0;
  }

  async get(key: MapKey): Promise<V | undefined> {
    const k = checkEntryKey(key);
    const raw = this.perEntryTtl ? await this.ctx.engine.get(this.ctx.keys.entry(k), this.ctx.read()) : await this.ctx.engine.hget(this.hash, k, this.ctx.read());
    return raw === null ? undefined : decodeValue<V>(raw, this.name, k);
  }

  async set(key: MapKey, value: V): Promise<this> {
    const k = checkEntryKey(key);
    const raw = await encodeValue(value);
    if (this.perEntryTtl) await this.ctx.mutate({ kind: 'map', op: 'set', key: this.ctx.keys.entry(k), items: [raw], ttlMs: this.ttlMs });
    else await this.ctx.mutate({ kind: 'map', op: 'hset', items: [k, raw] });
    return this;
  }

  async has(key: MapKey): Promise<boolean> {
    const k = checkEntryKey(key);
    if (this.perEntryTtl) return this.ctx.engine.exists(this.ctx.keys.entry(k), this.ctx.read());
    return (await this.ctx.engine.hget(this.hash, k, this.ctx.read())) !== null;
  }

  /** True when the entry existed (during an outage: existed in this instance's fallback). */
  async delete(key: MapKey): Promise<boolean> {
    const k = checkEntryKey(key);
    if (this.perEntryTtl) return (await this.ctx.mutate({ kind: 'map', op: 'del', key: this.ctx.keys.entry(k) })) > 0;
    return (await this.ctx.mutate({ kind: 'map', op: 'hdel', items: [k] })) > 0;
  }

  /** Values in the order of `keys`; `undefined` where missing. */
  async getMany(keys: readonly MapKey[]): Promise<(V | undefined)[]> {
    const ks = keys.map(checkEntryKey);
    if (ks.length === 0) return [];
    const raws = this.perEntryTtl
      ? await this.ctx.engine.mget(ks.map((k) => this.ctx.keys.entry(k)), this.ctx.read())
      : await this.ctx.engine.hmget(this.hash, ks, this.ctx.read());
    return Promise.all(raws.map((raw, i) => (raw === null ? undefined : decodeValue<V>(raw, this.name, ks[i]!))));
  }

  /** Writes a batch; returns how many entries were written (fewer with `overwrite: false`). */
  async setMany(entries: Iterable<readonly [MapKey, V]>, options: SetManyOptions = {}): Promise<number> {
    const encoded: [string, string][] = [];
    for (const [key, value] of entries) encoded.push([checkEntryKey(key), await encodeValue(value)]);
    return this.putEncoded(encoded, options.overwrite ?? true);
  }

  /** @internal Writes already-encoded entries (the migration encodes once for writing and checking). */
  async putEncoded(encoded: readonly (readonly [string, string])[], overwrite: boolean, strict = false): Promise<number> {
    if (encoded.length === 0) return 0;
    if (this.perEntryTtl) {
      // One script per entry (each is its own key); sent together, they share the round trips.
      const written = await Promise.all(encoded.map(([k, raw]) => this.ctx.mutate({ kind: 'map', op: 'set', key: this.ctx.keys.entry(k), items: [raw], ttlMs: this.ttlMs, overwrite, strict })));
      return written.reduce((a, b) => a + b, 0);
    }
    return this.ctx.mutate({ kind: 'map', op: 'hset', items: encoded.flat(), overwrite, strict });
  }

  /** @internal Raw stored values, for the migration's checks. */
  async rawMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    if (this.perEntryTtl) return this.ctx.engine.mget(keys.map((k) => this.ctx.keys.entry(k)), this.ctx.strict());
    return this.ctx.engine.hmget(this.hash, keys, this.ctx.strict());
  }

  /** Number of entries. With a TTL it walks the map's keys, so it never answers from the fallback. */
  async size(): Promise<number> {
    if (!this.perEntryTtl) return this.ctx.engine.hlen(this.hash, this.ctx.read());
    // SCAN may return a key twice: count distinct keys.
    const seen = new Set<string>();
    for await (const batch of this.ctx.engine.scan(this.ctx.keys.entryPattern(), { count: 500, ...this.ctx.strict() })) for (const key of batch) seen.add(key);
    return seen.size;
  }

  /** Every entry, loaded at once (a hash is read with one HGETALL). */
  async entries(): Promise<[string, V][]> {
    if (!this.perEntryTtl) {
      const all = await this.ctx.engine.hgetall(this.hash, this.ctx.read());
      return Promise.all(Object.entries(all).map(async ([k, raw]) => [k, await decodeValue<V>(raw, this.name, k)] as [string, V]));
    }
    const keys = new Set<string>();
    for await (const batch of this.ctx.engine.scan(this.ctx.keys.entryPattern(), { count: 500, ...this.ctx.strict() })) for (const key of batch) keys.add(key);
    const names = [...keys].map((key) => this.ctx.keys.entryKeyOf(key));
    const values = await this.getMany(names);
    // An entry may expire between SCAN and MGET: it is simply not listed.
    return names.flatMap((k, i) => (values[i] === undefined ? [] : [[k, values[i]] as [string, V]]));
  }

  async keys(): Promise<string[]> {
    return (await this.entries()).map(([k]) => k);
  }

  async values(): Promise<V[]> {
    return (await this.entries()).map(([, v]) => v);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<[string, V]> {
    yield* await this.entries();
  }

  /**
   * Removes every entry. Stamps the map's last-write marker, so outage writes another instance
   * replays later do not bring entries back. With a TTL it walks the keys: never from the fallback.
   */
  async clear(): Promise<void> {
    if (!this.perEntryTtl) {
      await this.ctx.mutate({ kind: 'map', op: 'del' });
      return;
    }
    // Stamped before the walk: a replay that lands before the stamp is removed by the walk.
    await this.ctx.mutate({ kind: 'map', op: 'touch', strict: true });
    for await (const batch of this.ctx.engine.scan(this.ctx.keys.entryPattern(), { count: 500, ...this.ctx.strict() })) await this.ctx.engine.del(batch, this.ctx.strict());
  }
}
