import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { RedisConnection } from './connection/redis.connection.js';
import { DEFAULT_REDIS_NAME, getRedisConnectionToken, getRedisToken, getStoreEngineToken } from './connection/redis.tokens.js';
import { getRedisMetricsToken, RedisMetrics } from './metrics/redis-metrics.js';
import { PubSubService } from './pubsub/pubsub.service.js';
import { RATE_LIMIT_OPTIONS, RateLimitGuard } from './rate-limit/rate-limit.guard.js';
import { resolveRateLimitModuleOptions } from './rate-limit/rate-limit.options.js';
import {
  ConfigurableRedisModule,
  REDIS_ASYNC_OPTIONS_TYPE,
  REDIS_MODULE_OPTIONS,
  REDIS_OPTIONS_TYPE,
} from './redis.module-definition.js';
import { resolveRedisOptions, type RedisModuleOptions } from './redis.options.js';
import { sessionProviders } from './session/session.providers.js';
import { CacheService } from './cache/cache.service.js';
import { SessionService } from './session/session.service.js';
import { TokenDenylist } from './session/token-denylist.service.js';

/**
 * `RedisModule.forRoot(options)` / `forRootAsync({ useFactory | useClass | useExisting })`.
 * Options are validated when the module is instantiated: bad configuration stops start-up with
 * one message naming every problem, before any socket is opened.
 */
@Module({})
export class RedisModule extends ConfigurableRedisModule {
  static override forRoot(options: typeof REDIS_OPTIONS_TYPE): DynamicModule {
    return withConnection(super.forRoot(options), options.name);
  }

  static override forRootAsync(options: typeof REDIS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withConnection(super.forRootAsync(options), options.name);
  }
}

function withConnection(definition: DynamicModule, name = DEFAULT_REDIS_NAME): DynamicModule {
  const connectionToken = getRedisConnectionToken(name);
  const providers: Provider[] = [
    {
      provide: connectionToken,
      useFactory: (options: RedisModuleOptions) => new RedisConnection(resolveRedisOptions(options), name),
      inject: [REDIS_MODULE_OPTIONS],
    },
    { provide: getRedisToken(name), useFactory: (c: RedisConnection) => c.client, inject: [connectionToken] },
    { provide: getStoreEngineToken(name), useFactory: (c: RedisConnection) => c.engine, inject: [connectionToken] },
    // A no-op until RedisMetricsModule attaches to it; capabilities report into it unconditionally.
    { provide: getRedisMetricsToken(name), useFactory: () => new RedisMetrics(name) },
  ];
  const exported: Array<string | typeof RedisConnection | typeof RedisMetrics | typeof PubSubService | typeof RateLimitGuard | typeof SessionService | typeof TokenDenylist | typeof CacheService> = [connectionToken, getRedisToken(name), getStoreEngineToken(name), getRedisMetricsToken(name)];
  // The default connection can also be injected by its class, the most natural form for users.
  if (name === DEFAULT_REDIS_NAME) {
    providers.push({ provide: RedisConnection, useExisting: connectionToken });
    exported.push(RedisConnection);
    providers.push({ provide: RedisMetrics, useExisting: getRedisMetricsToken(name) });
    providers.push({ provide: PubSubService, useFactory: (c: RedisConnection) => new PubSubService(c), inject: [connectionToken] });
    exported.push(RedisMetrics, PubSubService);
    // Rate limiting: options resolved at start-up (bad ones stop it); the guard for APP_GUARD `useExisting`.
    providers.push({ provide: RATE_LIMIT_OPTIONS, useFactory: (o: RedisModuleOptions) => resolveRateLimitModuleOptions(o.rateLimit), inject: [REDIS_MODULE_OPTIONS] }, RateLimitGuard);
    exported.push(RATE_LIMIT_OPTIONS, RateLimitGuard);
    // Sessions and the deny-list; `session.connection` may put them on another named connection.
    providers.push(...sessionProviders(name));
    exported.push(SessionService, TokenDenylist);
    // The cache (options validated at start-up); namespaces come from cache.namespace(name).
    providers.push({
      provide: CacheService,
      useFactory: (c: RedisConnection, o: RedisModuleOptions, m: RedisMetrics) => CacheService.create(c, o?.cache, m),
      inject: [connectionToken, REDIS_MODULE_OPTIONS, getRedisMetricsToken(name)],
    });
    exported.push(CacheService);
  }
  return {
    ...definition,
    providers: [...(definition.providers ?? []), ...providers],
    exports: [...(definition.exports ?? []), ...exported],
  };
}
