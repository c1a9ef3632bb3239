import { Logger } from '@nestjs/common';
import type { RedisConnection } from '../connection/redis.connection.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import type { RedisMetrics } from '../metrics/redis-metrics.js';
import { clearNamespace, unlinkMatching } from './cache.glob.js';
import { InvalidationBus } from './cache.invalidation-bus.js';
import { L1Cache } from './cache.l1.js';
import type { ResolvedCacheOptions } from './cache.options.js';
import type { CacheOutcome, CacheStats } from './cache.types.js';

export type Counters = Omit<CacheStats, 'namespace' | 'hitRatio' | 'pendingInvalidations'>;

export interface PendingPattern {
  ns: string;
  glob: string;
  test?: (key: string) => boolean;
  /** A `clear()`: values and tag versions. */
  whole?: true;
}

/**
 * State shared by a cache and all its namespaces: one engine, one L1 and its bus, one
 * single-flight map, stats per namespace, and what an outage left to redo on Redis.
 */
export class CacheCore {
  readonly inflight = new Map<string, { promise: Promise<{ value: unknown; outcome: CacheOutcome }>; generation: number }>();
  /**
   * Bumped when an invalidation starts on this instance: a load in flight from before it may carry
   * the old value, so a call made after it starts a load of its own instead of joining that one.
   */
  invalidations = 0;
  /** Background (stale-while-revalidate) refreshes in flight, one per key. */
  readonly refreshes = new Map<string, Promise<unknown>>();
  readonly counters = new Map<string, Counters>();
  readonly logger = new Logger('Cache');
  readonly bus: InvalidationBus;
  /** Pattern invalidations made while Redis was away: SCAN only saw memory, so they run again on recovery. */
  readonly pendingPatterns: PendingPattern[] = [];
  /** Namespaces that invalidated something while Redis was away (cleared if the journal overflowed). */
  readonly outageNamespaces = new Set<string>();
  /** Reads on this instance wait for it, so this instance never serves what the replay removes. */
  replaying: Promise<void> | null = null;
  private corruptLogged = false;
  private readonly detach: Array<() => void> = [];

  constructor(
    readonly engine: StoreEngine,
    readonly options: ResolvedCacheOptions,
    readonly metrics: RedisMetrics | undefined,
    readonly connection: RedisConnection | undefined,
  ) {
    this.bus = new InvalidationBus(engine, options.l1 ? new L1Cache(options.l1.maxEntries, options.l1.ttlMs) : null, this.logger);
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

  /** The in-process tier, or null when off (not configured, or its bus could not subscribe). */
  get l1(): L1Cache | null {
    return this.bus.l1;
  }

  counter(ns: string): Counters {
    let c = this.counters.get(ns);
    if (!c) {
      c = { hits: 0, l1Hits: 0, misses: 0, staleHits: 0, loads: 0, loadErrors: 0, corrupt: 0, bypasses: 0 };
      this.counters.set(ns, c);
    }
    return c;
  }

  start(): Promise<void> {
    return this.bus.start();
  }

  async close(): Promise<void> {
    for (const off of this.detach.splice(0)) off();
    await this.bus.stop();
    // Background refreshes still running would write into a closing connection.
    await Promise.allSettled([...this.refreshes.values()]);
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

  private replayPatterns(): void {
    if (this.replaying) return;
    this.replaying = (async () => {
      for (const p of [...this.pendingPatterns]) {
        try {
          if (p.whole) await clearNamespace(this.engine, p.ns);
          else await unlinkMatching(this.engine, p.ns, p.glob, p.test);
          this.pendingPatterns.splice(this.pendingPatterns.indexOf(p), 1);
        } catch (error) {
          // Redis went away again: the next recovery retries what is left.
          this.logger.warn(`A pattern invalidation made during the outage could not be replayed yet: ${error instanceof Error ? error.message : String(error)}`);
          return;
        }
      }
      await this.bus.redeliver();
    })().finally(() => (this.replaying = null));
  }

  private async clearOutageNamespaces(): Promise<void> {
    const namespaces = [...this.outageNamespaces];
    this.outageNamespaces.clear();
    this.logger.warn(`Redis returned but invalidations made during the outage were lost (journal full): clearing ${namespaces.length} cache namespace(s)`);
    for (const ns of namespaces) {
      try {
        await clearNamespace(this.engine, ns);
      } catch {
        this.pendingPatterns.push({ ns, glob: '*', whole: true });
      }
    }
  }
}
