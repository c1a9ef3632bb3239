import { randomBytes } from 'node:crypto';
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { RedisConnection } from '../connection/redis.connection.js';
import { escapeGlob } from '../engine/glob.util.js';
import { LOCK_EXTEND, LOCK_RELEASE } from '../engine/scripts/engine.scripts.js';
import { CACHE_LOCK_FAIL } from '../engine/scripts/cache.scripts.js';
import type { StoreEngine, Unsubscribe } from '../engine/store-engine.port.js';
import type { RedisMetrics } from '../metrics/redis-metrics.js';
import { toMs, type Duration } from '../duration.js';
import { CorruptEntryError, decodeEnvelope, encodeEnvelope, type Envelope } from './cache.envelope.js';
import { CacheInputError, CacheRemoteLoadError } from './cache.errors.js';
import { checkKey, checkName, encodeSegment, lockKey, tagKey, valueKey } from './cache.keys.js';
import { L1Cache } from './cache.l1.js';
import { resolveCacheOptions, type CacheOptions, type ResolvedCacheOptions } from './cache.options.js';

export interface CacheSetOptions {
  /** Overrides the default `cache.ttl`; 0 keeps the value until invalidated. */
  ttl?: Duration;
  /** Tags the value can be invalidated by (`invalidateTags`), scoped to this namespace. */
  tags?: readonly string[];
}

export interface CacheGetOrSetOptions extends CacheSetOptions {
  /** After expiry, serve the stale value for this long while one background load refreshes it. */
  grace?: Duration;
}

export interface CacheMsetEntry extends CacheSetOptions {
  key: string;
  value: unknown;
}

export interface CacheStats {
  namespace: string;
  hits: number;
  /** Hits answered by the in-process tier (a subset of `hits`). */
  l1Hits: number;
  misses: number;
  staleHits: number;
  /** Loader runs of `getOrSet` on this instance (foreground and background). */
  loads: number;
  loadErrors: number;
  /** Values under our keys that could not be decoded (removed, read as misses). */
  corrupt: number;
  /** (hits + staleHits) / (hits + staleHits + misses); 0 before the first read. */
  hitRatio: number;
  /**
   * Pattern invalidations and clears (of any namespace of this cache) made while Redis was away and
   * not yet re-applied to Redis; they run when it returns.
   */
  pendingInvalidations: number;
}

/** How a read was answered: what `@Cacheable` reports in `X-Cache`. */
export type CacheOutcome = 'HIT' | 'MISS' | 'STALE';

type Counters = Omit<CacheStats, 'namespace' | 'hitRatio' | 'pendingInvalidations'>;

interface Found {
  state: 'hit' | 'stale';
  value: unknown;
}

interface BusMessage {
  /** Sender instance. */
  o: string;
  /** Encoded namespace. */
  n: string;
  /** Encoded keys to drop. */
  k?: string[];
  /** Encoded tags whose values to drop. */
  t?: string[];
  /** Drop the whole namespace. */
  a?: 1;
  /** Drop every L1 copy (too many messages were lost to list them). */
  x?: 1;
}

interface PendingPattern {
  ns: string;
  glob: string;
  test?: (key: string) => boolean;
  /** A `clear()`: values and tag versions. */
  whole?: true;
}

const BUS_CHANNEL = 'cache:bus';
const UNDELIVERED_LIMIT = 1_000;
// How long waiters on other instances see a loader's error before someone may load again.
const ERROR_WINDOW_MS = 250;
const WAIT_FIRST_MS = 5;
const WAIT_MAX_MS = 100;
const SCAN_COUNT = 500;

/**
 * State shared by a cache and all its namespaces: one engine, one L1, one single-flight map, one
 * bus subscription, stats per namespace.
 */
class CacheCore {
  readonly instanceId = randomBytes(8).toString('hex');
  readonly l1: L1Cache | null;
  readonly inflight = new Map<string, Promise<{ value: unknown; outcome: CacheOutcome }>>();
  /** Background (stale-while-revalidate) refreshes in flight, one per key. */
  readonly refreshes = new Map<string, Promise<unknown>>();
  readonly counters = new Map<string, Counters>();
  readonly namespaces = new Map<string, CacheService>();
  readonly logger = new Logger('Cache');
  /** Pattern invalidations made while Redis was away: SCAN only saw memory, so they run again on recovery. */
  readonly pendingPatterns: PendingPattern[] = [];
  /** Namespaces that invalidated something while Redis was away (cleared if the journal overflowed). */
  readonly outageNamespaces = new Set<string>();
  private corruptLogged = false;
  private unsubscribe?: Unsubscribe;
  private subscribed?: Promise<void>;
  private readonly detach: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly engine: StoreEngine,
    readonly options: ResolvedCacheOptions,
    readonly metrics: RedisMetrics | undefined,
    readonly connection: RedisConnection | undefined,
  ) {
    this.l1 = options.l1 ? new L1Cache(options.l1.maxEntries, options.l1.ttlMs) : null;
    this.detach.push(
      engine.onModeChange((mode) => this.onModeChange(mode)),
      // The journal overflowed: some invalidations never reached Redis, and we cannot tell which.
      engine.onReplayIncomplete(() => void this.clearOutageNamespaces()),
    );
    if (connection && this.l1) {
      // Any connection status change may have cost us bus messages: forget what we cannot vouch for.
      const onStatus = () => this.l1?.clear();
      connection.on('status', onStatus);
      this.detach.push(() => connection.off('status', onStatus));
    }
  }

  counter(ns: string): Counters {
    let c = this.counters.get(ns);
    if (!c) {
      c = { hits: 0, l1Hits: 0, misses: 0, staleHits: 0, loads: 0, loadErrors: 0, corrupt: 0 };
      this.counters.set(ns, c);
    }
    return c;
  }

  start(): Promise<void> {
    if (!this.l1) return Promise.resolve();
    this.subscribed ??= this.engine
      .subscribe(BUS_CHANNEL, (message) => this.onBus(message))
      .then((off) => {
        if (this.closed) return void off();
        this.unsubscribe = off;
      })
      .catch((error: unknown) => {
        this.logger.warn(`The L1 invalidation bus could not subscribe (${error instanceof Error ? error.message : String(error)}); L1 is turned off`);
        this.l1?.clear();
        (this as { l1: L1Cache | null }).l1 = null;
      });
    return this.subscribed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const off of this.detach.splice(0)) off();
    await this.subscribed;
    await this.unsubscribe?.().catch(() => undefined);
    // Background refreshes still running would write into a closing connection.
    await Promise.allSettled([...this.refreshes.values()]);
  }

  publish(message: Omit<BusMessage, 'o'>): Promise<void> | undefined {
    if (!this.l1) return undefined;
    return this.engine.publish(BUS_CHANNEL, JSON.stringify({ ...message, o: this.instanceId })).then(
      () => this.keepIfUndelivered(message),
      () => this.keepIfUndelivered(message),
    );
  }

  /**
   * Messages published while Redis was away only reached this process; they are sent again once it
   * is back (after the journal replay), so other instances drop L1 copies invalidated meanwhile.
   */
  private readonly undelivered: Array<Omit<BusMessage, 'o'>> = [];
  private undeliveredOverflow = false;

  private keepIfUndelivered(message: Omit<BusMessage, 'o'>): void {
    if (this.engine.mode() !== 'fallback') return;
    if (this.undelivered.length < UNDELIVERED_LIMIT) this.undelivered.push(message);
    else this.undeliveredOverflow = true;
  }

  private async redeliver(): Promise<void> {
    const messages = this.undeliveredOverflow ? [{ n: '', x: 1 as const }] : this.undelivered.splice(0);
    this.undelivered.length = 0;
    this.undeliveredOverflow = false;
    for (const m of messages) await this.publish(m);
  }

  /** Drops local copies; `ns` plus keys, tags, or the whole namespace. */
  evict(message: Omit<BusMessage, 'o'>): void {
    const l1 = this.l1;
    if (!l1) return;
    const base = `cache:${message.n}:`;
    if (message.x) return l1.clear();
    if (message.a) l1.deleteWhere(base);
    for (const k of message.k ?? []) l1.delete(base + k);
    if (message.t && message.t.length > 0) {
      const tags = new Set(message.t);
      l1.deleteWhere(base, (_key, entry) => entry.tags.some(([t]) => tags.has(t)));
    }
  }

  private onBus(raw: string): void {
    let message: BusMessage;
    try {
      message = JSON.parse(raw) as BusMessage;
    } catch {
      return;
    }
    if (!message || typeof message.n !== 'string' || message.o === this.instanceId) return;
    this.evict(message);
  }

  reportCorrupt(ns: string, key: string, reason: string): void {
    this.counter(ns).corrupt++;
    if (!this.corruptLogged) {
      this.corruptLogged = true;
      // The key is the application's; its value is not logged (it may hold anything).
      this.logger.warn(`A value under cache key "${key}" could not be read (${reason}); it was removed and read as a miss. Further ones are only counted in stats().corrupt`);
    }
  }

  private onModeChange(mode: string): void {
    this.l1?.clear();
    if (mode !== 'redis') this.outageNamespaces.clear();
    else this.replayPatterns();
  }

  /** Reads on this instance wait for it, so this instance never serves what the replay removes. */
  replaying: Promise<void> | null = null;

  private replayPatterns(): void {
    if (this.replaying) return;
    this.replaying = (async () => {
      for (const p of [...this.pendingPatterns]) {
        try {
          if (p.whole) await clearNamespace(this, p.ns);
          else await unlinkMatching(this, p.ns, p.glob, p.test);
          this.pendingPatterns.splice(this.pendingPatterns.indexOf(p), 1);
        } catch (error) {
          // Redis went away again: the next recovery retries what is left.
          this.logger.warn(`A pattern invalidation made during the outage could not be replayed yet: ${error instanceof Error ? error.message : String(error)}`);
          return;
        }
      }
      await this.redeliver();
    })().finally(() => (this.replaying = null));
  }

  private async clearOutageNamespaces(): Promise<void> {
    const namespaces = [...this.outageNamespaces];
    this.outageNamespaces.clear();
    this.logger.warn(`Redis returned but invalidations made during the outage were lost (journal full): clearing ${namespaces.length} cache namespace(s)`);
    for (const ns of namespaces) {
      try {
        await clearNamespace(this, ns);
      } catch {
        this.pendingPatterns.push({ ns, glob: '*', whole: true });
      }
    }
  }
}

/** UNLINKs the namespace's keys matching `glob` (over encoded keys) in SCAN batches. */
async function unlinkMatching(core: CacheCore, ns: string, glob: string, test?: (key: string) => boolean, prefix = 'cache'): Promise<number> {
  const base = `${prefix}:${ns}:`;
  let removed = 0;
  for await (const batch of core.engine.scan(escapeGlob(base) + glob, { count: SCAN_COUNT })) {
    const keys = test ? batch.filter((k) => test(k.slice(base.length))) : batch;
    if (keys.length > 0) removed += await core.engine.del(keys, { replayOnRecovery: true });
  }
  return removed;
}

async function clearNamespace(core: CacheCore, ns: string): Promise<number> {
  const removed = await unlinkMatching(core, ns, '*');
  // Dropping the tag versions invalidates any entry still carrying them (none should remain).
  await unlinkMatching(core, ns, '*', undefined, 'cachetag');
  return removed;
}

const newToken = (): string => randomBytes(9).toString('base64url');

/**
 * Cache-aside over the connection's engine (Redis behind a breaker, or memory). Key layout in
 * cache.keys.ts, value format in cache.envelope.ts. Tags are clock-free: random version tokens read
 * with one MGET (slot-grouped on Cluster) and compared with those recorded at write time, so no
 * script spans keys of different slots. Outage: invalidations are journaled by the fallback engine
 * and replayed on recovery; pattern invalidations and clears are re-run on Redis when it returns
 * (this instance's reads wait for that) and L1 evictions are re-published; if the journal
 * overflowed, every namespace that invalidated during the outage is cleared. While Redis is away
 * instances cannot reach each other: one may serve what another invalidated until Redis returns.
 */
export class CacheService implements OnModuleInit, OnApplicationShutdown {
  private readonly engine: StoreEngine;
  private readonly label: string;

  /** Use `CacheService.create` (or inject it from `RedisModule`); namespaces come from `namespace()`. */
  protected constructor(
    private readonly core: CacheCore,
    /** Encoded namespace path ('' for the root). */
    private readonly ns: string,
    label: string,
  ) {
    this.engine = core.engine;
    this.label = label;
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
    let scoped = this.core.namespaces.get(ns);
    if (!scoped) {
      scoped = new CacheService(this.core, ns, this.ns === '' ? name : `${this.label}/${name}`);
      this.core.namespaces.set(ns, scoped);
    }
    return scoped;
  }

  // ---- reads ------------------------------------------------------------------------------------

  /** The value, or `undefined` on a miss (a stored `undefined` reads as `undefined` too: use `has`). */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    const found = await this.read(this.fullKey(key), false);
    const c = this.core.counter(this.label);
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
    return (await this.read(this.fullKey(key), false)) !== null;
  }

  /** One round trip (per cluster slot) for the values, one more only if some carry tags. */
  async mget<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (!Array.isArray(keys)) throw new CacheInputError('mget takes an array of keys');
    const full = keys.map((k) => this.fullKey(k));
    const c = this.core.counter(this.label);
    const raws = await this.engine.mget(full);
    const decoded = await Promise.all(raws.map((raw, i) => (raw === null ? null : this.decode(full[i]!, raw))));
    const tagSet = new Set<string>();
    for (const e of decoded) for (const [t] of e?.tags ?? []) tagSet.add(t);
    const current = tagSet.size > 0 ? await this.currentVersions([...tagSet]) : undefined;
    const now = Date.now();
    return decoded.map((e, i) => {
      if (!e || (e.expiresAt !== 0 && now >= e.expiresAt) || (current && !tagsMatch(e, current))) {
        c.misses++;
        return undefined;
      }
      c.hits++;
      this.core.l1?.set(full[i]!, e.value, e.expiresAt, e.tags, now);
      return e.value as T;
    });
  }

  // ---- writes -----------------------------------------------------------------------------------

  async set(key: string, value: unknown, options: CacheSetOptions = {}): Promise<void> {
    const full = this.fullKey(key);
    const tags = this.checkTags(options.tags);
    const versions = tags.length > 0 ? await this.readTagVersions(tags) : [];
    await this.write(full, value, this.ttlOf(options.ttl), 0, versions);
  }

  /** One round trip per cluster slot; tag versions are read once for all entries. */
  async mset(entries: readonly CacheMsetEntry[]): Promise<void> {
    if (!Array.isArray(entries)) throw new CacheInputError('mset takes an array of { key, value, ttl?, tags? }');
    const tagSet = new Set<string>();
    for (const e of entries) for (const t of this.checkTags(e.tags)) tagSet.add(t);
    const versions = new Map(tagSet.size > 0 ? await this.readTagVersions([...tagSet]) : []);
    const now = Date.now();
    const prepared = await Promise.all(
      entries.map(async (e) => {
        const key = this.fullKey(e.key);
        const ttlMs = this.ttlOf(e.ttl);
        const tags = this.checkTags(e.tags).map((t) => {
          const enc = encodeSegment(t);
          return [enc, versions.get(enc)!] as [string, string];
        });
        const expiresAt = ttlMs > 0 ? now + ttlMs : 0;
        return { key, ttlMs, expiresAt, tags, value: e.value, raw: await encodeEnvelope(e.value, expiresAt, tags, this.core.options, key) };
      }),
    );
    await this.engine.mset(prepared.map((p) => ({ key: p.key, value: p.raw, ttlMs: p.ttlMs })));
    for (const p of prepared) this.core.l1?.set(p.key, p.value, p.expiresAt, p.tags, now);
    await this.core.publish({ n: this.ns, k: prepared.map((p) => p.key.slice(this.base().length)) });
  }

  // ---- invalidation (replayed to Redis if made while it is away) ----------------------------------

  async del(key: string | readonly string[]): Promise<number> {
    const keys = (typeof key === 'string' ? [key] : [...key]).map((k) => this.fullKey(k));
    for (const k of keys) this.core.l1?.delete(k);
    this.noteOutage();
    const removed = await this.engine.del(keys, { replayOnRecovery: true });
    await this.core.publish({ n: this.ns, k: keys.map((k) => k.slice(this.base().length)) });
    return removed;
  }

  /**
   * Every value written with one of these tags (in this namespace) reads as a miss from now on, on
   * every instance: each tag gets a new random version, and values carry the versions they were
   * loaded under.
   */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    const list = this.checkTags(tags);
    if (list.length === 0) return;
    this.noteOutage();
    this.core.evict({ n: this.ns, t: list.map(encodeSegment) });
    await this.engine.mset(
      list.map((t) => ({ key: tagKey(this.ns, t), value: newToken() })),
      { replayOnRecovery: true },
    );
    await this.core.publish({ n: this.ns, t: list.map(encodeSegment) });
  }

  /**
   * Removes this namespace's keys matching `glob` (`*` any run of characters, `?` one character,
   * `\` escapes; no character classes) with SCAN on every master and UNLINK per batch.
   */
  async invalidatePattern(glob: string): Promise<number> {
    if (typeof glob !== 'string' || glob.length === 0) throw new CacheInputError(`invalidatePattern takes a non-empty glob string (got ${typeof glob})`);
    const { scanGlob, test } = compileUserGlob(glob);
    this.noteOutage();
    this.core.evict({ n: this.ns, a: 1 });
    if (this.engine.mode() === 'fallback') this.core.pendingPatterns.push({ ns: this.ns, glob: scanGlob, test });
    const removed = await unlinkMatching(this.core, this.ns, scanGlob, test);
    await this.core.publish({ n: this.ns, a: 1 });
    return removed;
  }

  /** Removes every value and tag version of this namespace (and only this one). */
  async clear(): Promise<void> {
    this.noteOutage();
    this.core.evict({ n: this.ns, a: 1 });
    if (this.engine.mode() === 'fallback') this.core.pendingPatterns.push({ ns: this.ns, glob: '*', whole: true });
    await clearNamespace(this.core, this.ns);
    await this.core.publish({ n: this.ns, a: 1 });
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
    const full = this.fullKey(key);
    const ttlMs = this.ttlOf(options.ttl);
    const graceMs = options.grace === undefined ? this.core.options.graceMs : toMs(options.grace, 'getOrSet grace');
    const tags = this.checkTags(options.tags);
    // Concurrent calls share one flight from the first read on: a cold burst costs one GET, and a
    // call cannot slip in between a failed load and its error reaching the others.
    let flight = this.core.inflight.get(full);
    if (!flight) {
      flight = this.resolveOnce(full, loader, ttlMs, graceMs, tags).finally(() => this.core.inflight.delete(full));
      this.core.inflight.set(full, flight);
    }
    const result = (await flight) as { value: T; outcome: CacheOutcome };
    const c = this.core.counter(this.label);
    if (result.outcome === 'HIT') {
      c.hits++;
      this.core.metrics?.cacheHit(this.label);
    } else if (result.outcome === 'STALE') {
      c.staleHits++;
      this.core.metrics?.cacheStale(this.label);
    } else {
      c.misses++;
      this.core.metrics?.cacheMiss(this.label);
    }
    return result;
  }

  private async resolveOnce(full: string, loader: () => unknown, ttlMs: number, graceMs: number, tags: string[]): Promise<{ value: unknown; outcome: CacheOutcome }> {
    const found = await this.read(full, graceMs > 0);
    if (found?.state === 'hit') return { value: found.value, outcome: 'HIT' };
    if (found?.state === 'stale') {
      this.refreshInBackground(full, loader, ttlMs, graceMs, tags);
      return { value: found.value, outcome: 'STALE' };
    }
    return this.loadAcrossFleet(full, loader, ttlMs, graceMs, tags, false);
  }

  stats(): CacheStats {
    const c = this.core.counter(this.label);
    const reads = c.hits + c.staleHits + c.misses;
    return { namespace: this.label, ...c, hitRatio: reads === 0 ? 0 : (c.hits + c.staleHits) / reads, pendingInvalidations: this.core.pendingPatterns.length };
  }

  // ---- internals --------------------------------------------------------------------------------

  private base(): string {
    return `cache:${this.ns}:`;
  }

  private fullKey(key: string): string {
    return valueKey(this.ns, encodeSegment(checkKey(key)));
  }

  private checkTags(tags: readonly string[] | undefined): string[] {
    if (tags === undefined) return [];
    if (!Array.isArray(tags)) throw new CacheInputError('tags must be an array of non-empty strings');
    return [...new Set(tags.map((t) => checkName(t, 'tag')))];
  }

  private ttlOf(ttl: Duration | undefined): number {
    const base = ttl === undefined ? this.core.options.ttlMs : toMs(ttl, 'ttl');
    const j = this.core.options.jitter;
    if (base === 0 || j === 0) return base;
    return Math.max(1, Math.round(base * (1 + j * (2 * Math.random() - 1))));
  }

  private noteOutage(): void {
    if (this.engine.mode() === 'fallback') this.core.outageNamespaces.add(this.ns);
  }

  /**
   * L1, then the engine. `allowStale`: an entry past its logical expiry (still stored because of
   * grace) is returned as `stale` instead of a miss.
   */
  private async read(full: string, allowStale: boolean): Promise<Found | null> {
    if (this.core.replaying) await this.core.replaying;
    const l1 = this.core.l1;
    if (l1) {
      const now = Date.now();
      const hit = l1.get(full, now);
      if (hit) {
        this.core.counter(this.label).l1Hits++;
        return { state: 'hit', value: hit.value };
      }
    }
    const raw = await this.engine.get(full);
    if (raw === null) return null;
    const decoded = this.decode(full, raw);
    const entry = decoded !== null && 'then' in decoded ? await decoded : decoded;
    if (!entry) return null;
    if (entry.tags.length > 0) {
      const current = await this.currentVersions(entry.tags.map(([t]) => t));
      if (!tagsMatch(entry, current)) return null;
    }
    const now = Date.now();
    if (entry.expiresAt !== 0 && now >= entry.expiresAt) return allowStale ? { state: 'stale', value: entry.value } : null;
    l1?.set(full, entry.value, entry.expiresAt, entry.tags, now);
    return { state: 'hit', value: entry.value };
  }

  /**
   * Synchronous for plain entries (the hit path pays no extra promise), a promise only for
   * compressed ones. A corrupt or foreign value is counted, deleted and read as a miss.
   */
  private decode(full: string, raw: string): Envelope | null | Promise<Envelope | null> {
    try {
      const decoded = decodeEnvelope(raw, this.core.options, full);
      // Duck-typed: zlib's promises may come from another realm (e.g. under jest's VM modules).
      if (!('then' in decoded)) return decoded;
      return Promise.resolve(decoded).then(
        (entry) => entry,
        (error: unknown) => this.discardCorrupt(full, error),
      );
    } catch (error) {
      return this.discardCorrupt(full, error);
    }
  }

  private async discardCorrupt(full: string, error: unknown): Promise<null> {
    if (!(error instanceof CorruptEntryError) && !(error instanceof SyntaxError) && !(error instanceof RangeError)) throw error;
    this.core.reportCorrupt(this.label, full, error.message);
    // Only delete what we read: a fresh value written meanwhile must survive.
    await this.engine.del([full]).catch(() => undefined);
    return null;
  }

  /** Current versions of encoded tags; a missing version key reads as '' (matches no entry). */
  private async currentVersions(encodedTags: readonly string[]): Promise<Map<string, string>> {
    const values = await this.engine.mget(encodedTags.map((t) => `cachetag:${this.ns}:${t}`));
    return new Map(encodedTags.map((t, i) => [t, values[i] ?? '']));
  }

  /**
   * The versions a value about to be loaded is recorded under, read BEFORE loading: if a tag is
   * invalidated while the loader runs, the value is written with the old version and never read.
   * A tag without a version key gets a random one (SET NX), so a version key lost to eviction or
   * `clear()` invalidates its values rather than resurrecting them.
   */
  private async readTagVersions(tags: readonly string[]): Promise<Array<[string, string]>> {
    const keys = tags.map((t) => tagKey(this.ns, t));
    const values = await this.engine.mget(keys);
    return Promise.all(
      tags.map(async (t, i) => {
        let version = values[i];
        if (version === null || version === undefined) {
          const fresh = newToken();
          version = (await this.engine.set(keys[i]!, fresh, { nx: true })) ? fresh : ((await this.engine.get(keys[i]!)) ?? fresh);
        }
        return [encodeSegment(t), version] as [string, string];
      }),
    );
  }

  private async write(full: string, value: unknown, ttlMs: number, graceMs: number, tags: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const now = Date.now();
    const expiresAt = ttlMs > 0 ? now + ttlMs : 0;
    const raw = await encodeEnvelope(value, expiresAt, tags, this.core.options, full);
    await this.engine.set(full, raw, { ttlMs: ttlMs > 0 ? ttlMs + graceMs : 0 });
    this.core.l1?.set(full, value, expiresAt, tags, now);
    await this.core.publish({ n: this.ns, k: [full.slice(this.base().length)] });
  }

  private refreshInBackground(full: string, loader: () => unknown, ttlMs: number, graceMs: number, tags: string[]): void {
    const refreshes = this.core.refreshes;
    if (refreshes.has(full)) return;
    const settled = this.loadAcrossFleet(full, loader, ttlMs, graceMs, tags, true).then(
      () => undefined,
      () => undefined,
    );
    refreshes.set(full, settled);
    void settled.finally(() => refreshes.delete(full));
  }

  /**
   * The fleet-wide half of single-flight: a lease lock (SET NX PX with a random token, renewed while
   * the loader runs). The holder re-checks the key, loads and writes; the others poll the value with
   * backoff (and the lock, to see the holder fail or die) instead of loading. `background`: a stale
   * refresh that gives up at once when another instance holds the lock.
   */
  private async loadAcrossFleet(full: string, loader: () => unknown, ttlMs: number, graceMs: number, tags: string[], background: boolean): Promise<{ value: unknown; outcome: CacheOutcome }> {
    const lock = lockKey(this.ns, full.slice(this.base().length));
    const lease = this.core.options.lockTimeoutMs;
    let delay = WAIT_FIRST_MS;
    for (;;) {
      const token = newToken();
      if (await this.engine.set(lock, token, { nx: true, ttlMs: lease })) {
        return this.loadAsHolder(full, lock, token, loader, ttlMs, graceMs, tags, background);
      }
      if (background) return { value: undefined, outcome: 'STALE' };
      // Someone else loads: wait for the value rather than load it too. Only the failure of the
      // holder we waited for is ours to report; an older failure marker is just waited out.
      const watched = await this.engine.get(lock);
      for (;;) {
        await sleep(delay);
        delay = Math.min(WAIT_MAX_MS, Math.ceil(delay * 1.5));
        const [found, holder] = await Promise.all([this.read(full, false), this.engine.get(lock)]);
        if (found) return { value: found.value, outcome: 'MISS' };
        if (holder === null) break; // released without a readable value, or the holder died: try to take over
        if (holder.startsWith('!') && watched !== null && holder.startsWith(`!${watched}!`)) throw new CacheRemoteLoadError(holder.slice(watched.length + 2));
      }
    }
  }

  private async loadAsHolder(full: string, lock: string, token: string, loader: () => unknown, ttlMs: number, graceMs: number, tags: string[], background: boolean): Promise<{ value: unknown; outcome: CacheOutcome }> {
    const lease = this.core.options.lockTimeoutMs;
    const renew = setInterval(() => void this.engine.runScript(LOCK_EXTEND, [lock], [token, lease]).catch(() => undefined), Math.max(10, Math.floor(lease / 3)));
    renew.unref();
    let failed = false;
    const c = this.core.counter(this.label);
    try {
      // Another instance may have filled the key between our miss and our lock.
      if (!background) {
        const found = await this.read(full, false);
        if (found) return { value: found.value, outcome: 'MISS' };
      }
      const versions = tags.length > 0 ? await this.readTagVersions(tags) : [];
      c.loads++;
      this.core.metrics?.cacheLoad(this.label);
      let value: unknown;
      try {
        value = await loader();
      } catch (error) {
        failed = true;
        c.loadErrors++;
        const message = (error instanceof Error ? error.message : String(error)).slice(0, 200);
        await this.engine.runScript(CACHE_LOCK_FAIL, [lock], [token, `${token}!${message}`, ERROR_WINDOW_MS]).catch(() => undefined);
        throw error;
      }
      await this.write(full, value, ttlMs, graceMs, versions);
      return { value, outcome: 'MISS' };
    } finally {
      clearInterval(renew);
      if (!failed) await this.engine.runScript(LOCK_RELEASE, [lock], [token]).catch(() => undefined);
    }
  }
}

function tagsMatch(entry: Envelope, current: Map<string, string>): boolean {
  for (const [t, v] of entry.tags) if (current.get(t) !== v) return false;
  return true;
}

/**
 * A user glob over decoded keys becomes a SCAN pattern over encoded keys (literal runs encoded and
 * escaped, every wildcard widened to `*`) plus an exact test on the decoded key: encoding turns one
 * character into up to 12, so `?` cannot be expressed in the encoded pattern.
 */
function compileUserGlob(glob: string): { scanGlob: string; test: (encodedKey: string) => boolean } {
  let scan = '';
  let regex = '^';
  let literal = '';
  const flush = () => {
    scan += escapeGlob(encodeSegment(literal));
    regex += literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    literal = '';
  };
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '\\' && i + 1 < glob.length) literal += glob[++i]!;
    else if (ch === '*' || ch === '?') {
      flush();
      if (!scan.endsWith('*')) scan += '*';
      regex += ch === '*' ? '[\\s\\S]*' : '[\\s\\S]';
    } else literal += ch;
  }
  flush();
  const re = new RegExp(`${regex}$`);
  return {
    scanGlob: scan,
    test: (encoded) => {
      try {
        return re.test(decodeURIComponent(encoded));
      } catch {
        return false;
      }
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
