/** Options of {@link RedisHealthModule.forRoot}. */
export interface RedisHealthModuleOptions {
  /**
   * What the indicator reports while a connection runs on the embedded in-memory store because no
   * Redis is configured (not an outage): `'degraded'` (default) or `'up'` when that is by design,
   * e.g. a single-instance deployment. An outage fallback is always `degraded`.
   */
  embedded?: 'up' | 'degraded';
}

/** @internal Token of the health module options. */
export const REDIS_HEALTH_OPTIONS = Symbol('REDIS_HEALTH_OPTIONS');
