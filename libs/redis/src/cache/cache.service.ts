import { type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { RedisConnection } from '../connection/redis.connection.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import type { RedisMetrics } from '../metrics/redis-metrics.js';
import { toMs, type Duration } from '../duration.js';
import { CacheCore, type PendingPattern } from './cache.core.js';
import { encodeEnvelope } from './cache.envelope.js';
import { CacheEntries, REPLACED } from './cache.entries.js';
import { CacheInputError } from './cache.errors.js';
import { clearNamespace, compileUserGlob, unlinkMatching } from './cache.glob.js';
import { checkName, encodeSegment } from './cache.keys.js';
import { CacheLoader } from './cache.loader.js';
import { resolveCacheOptions, type CacheOptions } from './cache.options.js';
import { CacheTags, checkTags, tagsMatch } from './cache.tags.js';
import type { CacheGetOrSetOptions, CacheMsetEntry, CacheOutcome, CacheSetOptions, CacheStats } from './cache.types.js';

/**
 * Cache-aside over the connection's engine (Redis behind a breaker, or memory). Key layout in
 * cache.keys.ts, value format in cache.envelope.ts, the read and write path in cache.entries.ts,
 * tag versions in cache.tags.ts, single-flight loading in cache.loader.ts. Outage: invalidations
 * are journaled by the fallback engine and replayed on recovery; pattern invalidations and clears
 * are re-run on Redis when it returns (this instance's reads wait for that) and L1 evictions are
 * re-published; if the journal overflowed, every namespace that invalidated during the outage is
 * cleared. While Redis is away instances cannot reach each other: one may serve what another
 * invalidated until Redis returns.
 */
export class CacheService implements OnModuleInit, OnApplicationShutdown {
  private readonly engine: StoreEngine;
  private readonly label: string;
  private readonly tags: CacheTags;
  private readonly entries: CacheEntries;
  private readonly loader: CacheLoader;
  /** Each path has one parent, so caching children here gives one instance per namespace path. */
  private readonly children = new Map<string, CacheService>();

  /** Use `CacheService.create` (or inject it from `RedisModule`); namespaces come from `namespace()`. */
  protected constructor(
    private readonly core: CacheCore,
    /** Encoded namespace path ('' for the root). */
    private readonly ns: string,
    label: string,
  ) {
    this.engine = core.engine;
    this.label = label;
    this.tags = new CacheTags(core.engine, ns);
    this.entries = new CacheEntries(core, ns, label, this.tags);
    this.loader = new CacheLoader(core, ns, label, this.tags, this.entries);
  }

  /**
   * A cache on a connection (or directly on an engine). Call `onModuleInit()` before use when not
   * created by Nest, and `onApplicationShutdown()` when done.
   */
  static create(source: RedisConnection | StoreEngine, options?: CacheOptions, metrics?: RedisMetrics): CacheService {
    const connection = source instanceof RedisConnection ? source : undefined;
    const engine = connection ? connection.engine : (source as StoreEngine);
    return new CacheService(new CacheCore(engine, resolveCacheOptions(options), metrics, connection), '', 'default');
  }

  onModuleInit(): Promise<void> {
    return this.core.start();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.ns !== '') return;
    await this.core.close();
  }

  /** A cache scoped to `name` (nested under this one's namespace): keys, tags, stats and `clear()`. */
  namespace(name: string): CacheService {
    checkName(name, 'namespace name');
    const ns = this.ns === '' ? encodeSegment(name) : `${this.ns}/${encodeSegment(name)}`;
    let scoped = this.children.get(ns);
    if (!scoped) {
      scoped = new CacheService(this.core, ns, this.ns === '' ? name : `${this.label}/${name}`);
      this.children.set(ns, scoped);
    }
    return scoped;
  }

  // ---- reads ------------------------------------------------------------------------------------

  /** The value, or `undefined` on a miss (a stored `undefined` reads as `undefined` too: use `has`). */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    const full = this.entries.fullKey(key);
    const c = this.core.counter(this.label);
    // L1 hit without entering the async read path (the hit is most of an L1 cache's traffic).
    const hit = this.entries.fromL1(full);
    if (hit !== undefined) {
      c.hits++;
      this.core.metrics?.cacheHit(this.label);
      return hit.value as T;
    }
    const found = await this.entries.read(full, false);
    if (found) {
      c.hits++;
      this.core.metrics?.cacheHit(this.label);
      return found.value as T;
    }
    c.misses++;
    this.core.metrics?.cacheMiss(this.label);
    return undefined;
  }

  async has(key: string): Promise<boolean> {
    return (await this.entries.read(this.entries.fullKey(key), false)) !== null;
  }

  /** One round trip (per cluster slot) for the values, one more only if some carry tags. */
  async mget<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (!Array.isArray(keys)) throw new CacheInputError('mget takes an array of keys');
    const full = keys.map((k) => this.entries.fullKey(k));
    const c = this.core.counter(this.label);
    const bus = this.core.bus;
    const mark = bus.mark();
    const raws = await this.engine.mget(full);
    const decoded = await Promise.all(raws.map((raw, i) => (raw === null ? null : this.entries.decode(full[i]!, raw))));
    const tagSet = new Set<string>();
    for (const e of decoded) for (const [t] of e?.tags ?? []) tagSet.add(t);
    const current = tagSet.size > 0 ? await this.tags.currentVersions([...tagSet]) : undefined;
    const now = Date.now();
    return decoded.map((e, i) => {
      if (!e || (e.expiresAt !== 0 && now >= e.expiresAt) || (current && !tagsMatch(e, current))) {
        c.misses++;
        return undefined;
      }
      c.hits++;
      if (bus.mayFill(full[i]!, mark)) bus.l1?.set(full[i]!, e.value, e.expiresAt, e.tags, now);
      return e.value as T;
    });
  }

  // ---- writes -----------------------------------------------------------------------------------

  async set(key: string, value: unknown, options: CacheSetOptions = {}): Promise<void> {
    const full = this.entries.fullKey(key);
    this.core.invalidations++;
    const tags = checkTags(options.tags);
    const ttlMs = this.ttlOf(options.ttl);
    const versions = tags.length > 0 ? await this.tags.writeVersions(tags, ttlMs) : [];
    await this.entries.write(full, value, ttlMs, 0, versions);
  }

  /** One round trip per cluster slot; tag versions are read once for all entries. */
  async mset(entries: readonly CacheMsetEntry[]): Promise<void> {
    if (!Array.isArray(entries)) throw new CacheInputError('mset takes an array of { key, value, ttl?, tags? }');
    this.core.invalidations++;
    const bus = this.core.bus;
    const mark = bus.mark();
    const tagSet = new Set<string>();
    for (const e of entries) for (const t of checkTags(e.tags)) tagSet.add(t);
    // Version keys live as long as the longest-lived entry that references them (0: forever).
    const ttls = entries.map((e) => this.ttlOf(e.ttl));
    const life = ttls.includes(0) ? 0 : ttls.reduce((a, b) => Math.max(a, b), 0);
    const versions = new Map(tagSet.size > 0 ? await this.tags.writeVersions([...tagSet], life) : []);
    const now = Date.now();
    const prepared = await Promise.all(
      entries.map(async (e, i) => {
        const key = this.entries.fullKey(e.key);
        const ttlMs = ttls[i]!;
        const tags = checkTags(e.tags).map((t) => {
          const enc = encodeSegment(t);
          return [enc, versions.get(enc)!] as [string, string];
        });
        const expiresAt = ttlMs > 0 ? now + ttlMs : 0;
        return { key, ttlMs, expiresAt, tags, value: e.value, raw: await encodeEnvelope(e.value, expiresAt, tags, this.core.options, key) };
      }),
    );
    await this.engine.mset(prepared.map((p) => ({ key: p.key, value: p.raw, ttlMs: p.ttlMs })), REPLACED);
    this.entries.noteOutage();
    for (const p of prepared) if (bus.mayFill(p.key, mark)) bus.l1?.set(p.key, p.value, p.expiresAt, p.tags, now);
    await this.core.bus.publish({ n: this.ns, k: prepared.map((p) => this.entries.keyOf(p.key)) });
  }

  // ---- invalidation (replayed to Redis if made while it is away) ----------------------------------

  async del(key: string | readonly string[]): Promise<number> {
    const keys = (typeof key === 'string' ? [key] : [...key]).map((k) => this.entries.fullKey(k));
    this.core.invalidations++;
    for (const k of keys) this.core.l1?.delete(k);
    this.entries.noteOutage();
    const removed = await this.engine.del(keys, { replayOnRecovery: true });
    await this.core.bus.publish({ n: this.ns, k: keys.map((k) => this.entries.keyOf(k)) });
    return removed;
  }

  /**
   * Every value written with one of these tags (in this namespace) reads as a miss from now on, on
   * every instance: each tag gets a new random version, and values carry the versions they were
   * loaded under.
   */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    const list = checkTags(tags);
    if (list.length === 0) return;
    this.entries.noteOutage();
    this.core.invalidations++;
    this.core.bus.evict({ n: this.ns, t: list.map(encodeSegment) });
    await this.tags.bump(list);
    await this.core.bus.publish({ n: this.ns, t: list.map(encodeSegment) });
  }

  /**
   * Removes this namespace's keys matching `glob` (`*` any run of characters, `?` one character,
   * `\` escapes; no character classes) with SCAN on every master and UNLINK per batch.
   */
  async invalidatePattern(glob: string): Promise<number> {
    if (typeof glob !== 'string' || glob.length === 0) throw new CacheInputError(`invalidatePattern takes a non-empty glob string (got ${typeof glob})`);
    const { scanGlob, test } = compileUserGlob(glob);
    this.entries.noteOutage();
    this.core.invalidations++;
    this.core.bus.evict({ n: this.ns, a: 1 });
    const removed = await this.wholeOrJournaled({ ns: this.ns, glob: scanGlob, test }, () => unlinkMatching(this.engine, this.ns, scanGlob, test));
    await this.core.bus.publish({ n: this.ns, a: 1 });
    return removed;
  }

  /** Removes every value and tag version of this namespace (and only this one). */
  async clear(): Promise<void> {
    this.entries.noteOutage();
    this.core.invalidations++;
    this.core.bus.evict({ n: this.ns, a: 1 });
    await this.wholeOrJournaled({ ns: this.ns, glob: '*', whole: true }, () => clearNamespace(this.engine, this.ns));
    await this.core.bus.publish({ n: this.ns, a: 1 });
  }

  // ---- getOrSet ---------------------------------------------------------------------------------

  /**
   * The cached value, or the loader's result, stored. Concurrent calls for a cold key run the loader
   * once in this process and once across every instance sharing the Redis (the others wait for the
   * value). Within `grace` after expiry the stale value is returned at once and refreshed in the
   * background; while the refresh fails the stale value keeps being served until grace ends.
   */
  async getOrSet<T>(key: string, loader: () => T | Promise<T>, options: CacheGetOrSetOptions = {}): Promise<T> {
    return (await this.getOrSetWithOutcome(key, loader, options)).value;
  }

  /** `getOrSet` that also says how it was answered (used by `@Cacheable` for `X-Cache`). */
  async getOrSetWithOutcome<T>(key: string, loader: () => T | Promise<T>, options: CacheGetOrSetOptions = {}): Promise<{ value: T; outcome: CacheOutcome }> {
    if (typeof loader !== 'function') throw new CacheInputError('getOrSet needs a loader function');
    const full = this.entries.fullKey(key);
    const ttlMs = this.ttlOf(options.ttl);
    const graceMs = options.grace === undefined ? this.core.options.graceMs : toMs(options.grace, 'getOrSet grace');
    const tags = checkTags(options.tags);
    const result = (await this.loader.run({ full, loader, ttlMs, graceMs, tags })) as { value: T; outcome: CacheOutcome };
    const c = this.core.counter(this.label);
    if (result.outcome === 'HIT') {
      c.hits++;
      this.core.metrics?.cacheHit(this.label);
    } else if (result.outcome === 'STALE') {
      c.staleHits++;
      this.core.metrics?.cacheStale(this.label);
    } else if (result.outcome === 'BYPASS') {
      c.bypasses++;
      this.core.metrics?.cacheBypass(this.label);
    } else {
      c.misses++;
      this.core.metrics?.cacheMiss(this.label);
    }
    return result;
  }

  stats(): CacheStats {
    const c = this.core.counter(this.label);
    const reads = c.hits + c.staleHits + c.misses;
    return { namespace: this.label, ...c, hitRatio: reads === 0 ? 0 : (c.hits + c.staleHits) / reads, pendingInvalidations: this.core.pendingPatterns.length };
  }

  // ---- internals --------------------------------------------------------------------------------

  private ttlOf(ttl: Duration | undefined): number {
    const base = ttl === undefined ? this.core.options.ttlMs : toMs(ttl, 'ttl');
    const j = this.core.options.jitter;
    if (base === 0 || j === 0) return base;
    return Math.max(1, Math.round(base * (1 + j * (2 * Math.random() - 1))));
  }

  /**
   * A pattern invalidation or clear never does less than asked without saying so: made during an
   * outage, or cut short by Redis stalling mid-SCAN once the breaker has opened, the whole of it is
   * journaled and re-run on Redis at recovery (and run on the fallback now); a step that fails while
   * Redis still counts as up rejects the call.
   */
  private async wholeOrJournaled(pending: PendingPattern, run: () => Promise<number>): Promise<number> {
    const journal = () => {
      if (!this.core.pendingPatterns.includes(pending)) this.core.pendingPatterns.push(pending);
      this.core.outageNamespaces.add(this.ns);
    };
    if (this.engine.mode() === 'fallback') journal();
    try {
      return await run();
    } catch (error) {
      if (this.engine.mode() !== 'fallback') throw error;
      journal();
      return run();
    }
  }
}
