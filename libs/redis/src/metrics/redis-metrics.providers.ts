import type { Provider } from '@nestjs/common';
import { DEFAULT_REDIS_NAME } from '../connection/redis.tokens.js';
import { getRedisMetricsToken, RedisMetrics } from './redis-metrics.js';

/**
 * The sink capabilities of the connection `name` report into: a no-op until RedisMetricsModule
 * (`nestjs-redis-kit/metrics`) attaches to it, so prom-client stays an optional peer.
 */
export function metricsSinkProviders(name: string): Provider[] {
  const providers: Provider[] = [{ provide: getRedisMetricsToken(name), useFactory: () => new RedisMetrics(name) }];
  if (name === DEFAULT_REDIS_NAME) providers.push({ provide: RedisMetrics, useExisting: getRedisMetricsToken(name) });
  return providers;
}
