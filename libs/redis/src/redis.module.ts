import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { cacheProviders } from './cache/cache.providers.js';
import { collectionsProviders } from './collections/collections.providers.js';
import { connectionProviders } from './connection/connection.providers.js';
import { DEFAULT_REDIS_NAME } from './connection/redis.tokens.js';
import { historyProviders } from './history/history.providers.js';
import { metricsSinkProviders } from './metrics/redis-metrics.providers.js';
import { presenceProviders } from './presence/presence.providers.js';
import { pubSubProviders } from './pubsub/pubsub.providers.js';
import { rateLimitAppProviders, rateLimitProviders } from './rate-limit/rate-limit.providers.js';
import { ConfigurableRedisModule, REDIS_ASYNC_OPTIONS_TYPE, REDIS_OPTIONS_TYPE } from './redis.module-definition.js';
import { sessionEvictionProviders } from './session/session.eviction.js';
import { sessionProviders } from './session/session.providers.js';

/**
 * `RedisModule.forRoot(options)` / `forRootAsync({ useFactory | useClass | useExisting })`.
 * Options are validated when the module is instantiated: bad configuration stops start-up with
 * one message naming every problem, before any socket is opened.
 */
@Module({})
export class RedisModule extends ConfigurableRedisModule {
  static override forRoot(options: typeof REDIS_OPTIONS_TYPE): DynamicModule {
    return withProviders(super.forRoot(options), options.name);
  }

  static override forRootAsync(options: typeof REDIS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withProviders(super.forRootAsync(options), options.name);
  }
}

/**
 * Every connection gets its tokens; the capabilities (pub/sub, rate limit, sessions, cache, collections) are
 * registered once, for the default connection. Sessions may still live on another connection
 * (`session.connection`).
 */
function withProviders(definition: DynamicModule, name = DEFAULT_REDIS_NAME): DynamicModule {
  const providers: Provider[] = [...connectionProviders(name), ...metricsSinkProviders(name)];
  if (name === DEFAULT_REDIS_NAME) providers.push(...pubSubProviders(name), ...rateLimitProviders(), ...sessionProviders(name), ...cacheProviders(name), ...collectionsProviders(name));
  if (name === DEFAULT_REDIS_NAME) providers.push(...sessionEvictionProviders(name));
  if (name === DEFAULT_REDIS_NAME) providers.push(...historyProviders(name));
  if (name === DEFAULT_REDIS_NAME) providers.push(...presenceProviders(name));
  // Registered, not exported (an APP_GUARD token cannot be exported).
  const unexported = name === DEFAULT_REDIS_NAME ? rateLimitAppProviders() : [];
  return {
    ...definition,
    providers: [...(definition.providers ?? []), ...providers, ...unexported],
    exports: [...(definition.exports ?? []), ...providers.map((p) => (typeof p === 'function' ? p : p.provide))],
  };
}
