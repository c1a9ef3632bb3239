import { RedisConfigError } from '../redis.errors.js';
import { toMs, type Duration } from '../duration.js';
import { resolveCacheEncryption, type CacheCipher, type CacheEncryptionOptions } from './cache.encryption.js';

/** The `cache` section of `RedisModuleOptions`. */
export interface CacheOptions {
  /** Default time to live of a value; 0 keeps values until invalidated. Default '5m'. */
  ttl?: Duration;
  /** Spread TTLs by ±this fraction (0..0.5) so keys loaded together do not expire together. Default 0. */
  jitter?: number;
  /** Default grace (stale-while-revalidate window) of `getOrSet`. Default 0 (no stale values). */
  grace?: Duration;
  /** Serialized values larger than this many bytes are deflated. 0 turns compression off. Default 16 KiB. */
  compressThreshold?: number;
  /** Serialized values larger than this are refused with `CacheValueTooLargeError`. Default 8 MiB. */
  maxValueBytes?: number;
  /**
   * Lease of the fleet-wide stampede lock. The holder renews it while its loader runs; if the holder
   * dies, another instance takes over once it lapses. Default '10s'.
   */
  lockTimeout?: Duration;
  /**
   * How long a `getOrSet` loader may run. Past it the call fails with `CacheLoaderTimeoutError`,
   * the lock lease stops being renewed, waiting instances stop waiting and load themselves, and
   * the late result is never written. Default '10s'.
   */
  loaderTimeout?: Duration;
  /**
   * In-process tier in front of Redis, bounded. Writes and invalidations on any instance evict the
   * other instances' copies over pub/sub; every instance of a fleet must enable it alike.
   */
  l1?: { maxEntries: number; ttl?: Duration };
  /** AES-256-GCM for every stored value; the first key encrypts, all of them decrypt (see cache.encryption.ts). */
  encryption?: CacheEncryptionOptions;
}

export interface ResolvedCacheOptions {
  ttlMs: number;
  jitter: number;
  graceMs: number;
  compressThreshold: number;
  maxValueBytes: number;
  lockTimeoutMs: number;
  loaderTimeoutMs: number;
  l1: { maxEntries: number; ttlMs: number } | null;
  encryption: CacheCipher | null;
}

/** The values the `cache` options take when unset (durations in milliseconds, sizes in bytes). */
export const CACHE_DEFAULTS = {
  ttlMs: 5 * 60_000,
  jitter: 0,
  graceMs: 0,
  compressThreshold: 16 * 1024,
  maxValueBytes: 8 * 1024 * 1024,
  lockTimeoutMs: 10_000,
  loaderTimeoutMs: 10_000,
  l1TtlMs: 60_000,
} as const;

/** Validates the `cache` section; every problem is reported at once, naming the option. */
export function resolveCacheOptions(options: CacheOptions = {}): ResolvedCacheOptions {
  const problems: string[] = [];
  const o = options ?? {};
  const duration = (value: Duration | undefined, what: string, fallback: number): number => {
    if (value === undefined) return fallback;
    try {
      return toMs(value, what);
    } catch (error) {
      problems.push(...(error as RedisConfigError).problems);
      return fallback;
    }
  };
  const int = (value: number | undefined, what: string, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isInteger(value) || value < min) problems.push(`${what} must be an integer >= ${min} (got ${String(value)})`);
    return value;
  };
  if (o.jitter !== undefined && !(typeof o.jitter === 'number' && o.jitter >= 0 && o.jitter <= 0.5)) {
    problems.push(`cache.jitter must be a fraction from 0 to 0.5 (got ${String(o.jitter)})`);
  }
  let l1: ResolvedCacheOptions['l1'] = null;
  if (o.l1 !== undefined) {
    if (!o.l1 || typeof o.l1 !== 'object') problems.push('cache.l1 must be an object { maxEntries, ttl? }');
    else l1 = { maxEntries: int(o.l1.maxEntries, 'cache.l1.maxEntries', 0, 1), ttlMs: duration(o.l1.ttl, 'cache.l1.ttl', CACHE_DEFAULTS.l1TtlMs) };
    if (l1 && o.l1?.maxEntries === undefined) problems.push('cache.l1.maxEntries is required (the in-process tier is always bounded)');
  }
  const resolved: ResolvedCacheOptions = {
    ttlMs: duration(o.ttl, 'cache.ttl', CACHE_DEFAULTS.ttlMs),
    jitter: typeof o.jitter === 'number' ? o.jitter : CACHE_DEFAULTS.jitter,
    graceMs: duration(o.grace, 'cache.grace', CACHE_DEFAULTS.graceMs),
    compressThreshold: int(o.compressThreshold, 'cache.compressThreshold', CACHE_DEFAULTS.compressThreshold, 0),
    maxValueBytes: int(o.maxValueBytes, 'cache.maxValueBytes', CACHE_DEFAULTS.maxValueBytes, 1),
    lockTimeoutMs: duration(o.lockTimeout, 'cache.lockTimeout', CACHE_DEFAULTS.lockTimeoutMs),
    loaderTimeoutMs: duration(o.loaderTimeout, 'cache.loaderTimeout', CACHE_DEFAULTS.loaderTimeoutMs),
    l1,
    encryption: resolveCacheEncryption(o.encryption, problems),
  };
  if (o.lockTimeout !== undefined && resolved.lockTimeoutMs < 50) problems.push(`cache.lockTimeout must be at least 50 ms (got ${resolved.lockTimeoutMs})`);
  if (o.loaderTimeout !== undefined && resolved.loaderTimeoutMs < 10) problems.push(`cache.loaderTimeout must be at least 10 ms (got ${resolved.loaderTimeoutMs})`);
  if (problems.length > 0) throw new RedisConfigError(problems);
  return resolved;
}
