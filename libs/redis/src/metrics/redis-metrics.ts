import { DEFAULT_REDIS_NAME } from '../connection/redis.tokens.js';

/** What capabilities report. Implemented by the Prometheus exporter of `nestjs-redis-kit/metrics`. */
export interface RedisMetricsRecorder {
  cache(namespace: string, event: CacheMetricEvent): void;
  rateLimit(policy: string, outcome: RateLimitOutcome): void;
  refreshTokenReuse(): void;
  /** A `@Cacheable` route answered (`route` is its template, e.g. `/trips/:id`). Optional for older recorders. */
  cacheRoute?(route: string, outcome: CacheRouteOutcome): void;
  /** A rate-limit decision Redis could not make: the policy followed its `whenUnavailable`. */
  rateLimitUnchecked?(policy: string, behaviour: string): void;
}

/** How a `@Cacheable` route was answered, counted per route. */
export type CacheRouteOutcome = 'hit' | 'miss' | 'stale' | 'bypass';

/** Cache events counted per namespace. */
export type CacheMetricEvent = 'hit' | 'miss' | 'stale' | 'load' | 'bypass';
/** Rate-limit decisions counted per policy. */
export type RateLimitOutcome = 'allowed' | 'refused';
/** Counts active sessions when metrics are scraped (e.g. from `SessionService.stats()`). */
export type ActiveSessionsSource = () => number | Promise<number>;

/** Injection token of a connection's `RedisMetrics`; the default one is also injectable by class. */
export const getRedisMetricsToken = (name?: string): string => `REDIS:METRICS:${name ?? DEFAULT_REDIS_NAME}`;

/**
 * The one place capabilities report to, provided by `RedisModule` whether or not metrics are on.
 * Until `RedisMetricsModule` (from `nestjs-redis-kit/metrics`) attaches a recorder, every call is a
 * single null check: no prom-client import, no allocation, no cost for users without metrics.
 */
export class RedisMetrics {
  private recorder: RedisMetricsRecorder | null = null;
  private sessionsSource: ActiveSessionsSource | null = null;

  constructor(readonly connectionName: string = DEFAULT_REDIS_NAME) {}

  /** True while an exporter is attached; lets a caller skip work done only to report a metric. */
  get enabled(): boolean {
    return this.recorder !== null;
  }

  cacheHit(namespace: string): void {
    this.recorder?.cache(namespace, 'hit');
  }
  cacheMiss(namespace: string): void {
    this.recorder?.cache(namespace, 'miss');
  }
  /** A stale value was served (within its grace period) while a fresh one is loaded. */
  cacheStale(namespace: string): void {
    this.recorder?.cache(namespace, 'stale');
  }
  /** `getOrSet` answered from its loader alone: Redis away and no fallback (`fallback: 'none'`). */
  cacheBypass(namespace: string): void {
    this.recorder?.cache(namespace, 'bypass');
  }
  /** The loader of `getOrSet` ran. */
  cacheLoad(namespace: string): void {
    this.recorder?.cache(namespace, 'load');
  }
  rateLimitAllowed(policy: string): void {
    this.recorder?.rateLimit(policy, 'allowed');
  }
  rateLimitRefused(policy: string): void {
    this.recorder?.rateLimit(policy, 'refused');
  }
  /** A `@Cacheable` GET was answered; `route` is the route template, never the concrete URL. */
  cacheRoute(route: string, outcome: CacheRouteOutcome): void {
    this.recorder?.cacheRoute?.(route, outcome);
  }
  /** Redis could not decide for `policy`; it was decided by its `whenUnavailable` (`local`, `open` or `closed`). */
  rateLimitUnchecked(policy: string, behaviour: string): void {
    this.recorder?.rateLimitUnchecked?.(policy, behaviour);
  }
  /** An already-rotated refresh token was presented again (its family gets revoked). */
  refreshTokenReused(): void {
    this.recorder?.refreshTokenReuse();
  }

  /**
   * Active sessions are a fact of the store, not of one instance, so they are counted when scraped
   * rather than incremented here. The last registration wins.
   */
  observeActiveSessions(source: ActiveSessionsSource): void {
    this.sessionsSource = source;
  }

  /** @internal Used by the exporter at scrape time. */
  activeSessionsSource(): ActiveSessionsSource | null {
    return this.sessionsSource;
  }

  /** @internal Used by the exporter; returns the function that detaches it. */
  attach(recorder: RedisMetricsRecorder): () => void {
    this.recorder = recorder;
    return () => {
      if (this.recorder === recorder) this.recorder = null;
    };
  }
}
