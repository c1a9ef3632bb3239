import type { Provider } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { getRedisConnectionToken, REDIS_MODULE_OPTIONS } from '../connection/redis.tokens.js';
import type { RedisConnection } from '../connection/redis.connection.js';
import { getRedisMetricsToken, type RedisMetrics } from '../metrics/redis-metrics.js';
import type { CacheOptions } from './cache.options.js';
import { CacheMethodsExplorer } from './cache.explorer.js';
import { CacheService } from './cache.service.js';

/** The cache of the connection `name`; its options are validated at start-up. Namespaces come from `cache.namespace(name)`. */
export function cacheProviders(name: string): Provider[] {
  return [
    {
      provide: CacheService,
      useFactory: (connection: RedisConnection, options: { cache?: CacheOptions } | undefined, metrics: RedisMetrics) =>
        CacheService.create(connection, options?.cache, metrics),
      inject: [getRedisConnectionToken(name), REDIS_MODULE_OPTIONS, getRedisMetricsToken(name)],
    },
    // Wires @Cached / @CacheEvict provider methods at start-up.
    { provide: CacheMethodsExplorer, useFactory: (cache: CacheService, modules: ModulesContainer) => new CacheMethodsExplorer(cache, modules), inject: [CacheService, ModulesContainer] },
  ];
}
