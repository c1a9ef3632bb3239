import type { Duration } from '../duration.js';

/** Options of a cache write: its TTL and the tags it can be invalidated by. */
export interface CacheSetOptions {
  /** Overrides the default `cache.ttl`; 0 keeps the value until invalidated. */
  ttl?: Duration;
  /** Tags the value can be invalidated by (`invalidateTags`), scoped to this namespace. */
  tags?: readonly string[];
}

/** Options of `getOrSet`: those of a write, plus a grace period during which a stale value is served while it reloads. */
export interface CacheGetOrSetOptions extends CacheSetOptions {
  /** After expiry, serve the stale value for this long while one background load refreshes it. */
  grace?: Duration;
}

/** One entry of a batch cache write (`mset`): key, value and its own write options. */
export interface CacheMsetEntry extends CacheSetOptions {
  key: string;
  value: unknown;
}

/** Counters of one cache namespace on this instance (hits, misses, loads, errors), for dashboards and tests. */
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
  /** `getOrSet` calls answered by the loader alone, not stored: Redis away with `fallback: 'none'`. */
  bypasses: number;
  /** (hits + staleHits) / (hits + staleHits + misses); 0 before the first read. */
  hitRatio: number;
  /**
   * Pattern invalidations and clears (of any namespace of this cache) made while Redis was away and
   * not yet re-applied to Redis; they run when it returns.
   */
  pendingInvalidations: number;
}

/** How a read was answered: what `@Cacheable` reports in `X-Cache`. */
export type CacheOutcome = 'HIT' | 'MISS' | 'STALE' | 'BYPASS';
