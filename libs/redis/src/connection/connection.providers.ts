import type { Provider } from '@nestjs/common';
import { resolveRedisOptions, type RedisConnectionOptions } from './connection.options.js';
import { RedisConnection } from './redis.connection.js';
import { DEFAULT_REDIS_NAME, getRedisConnectionToken, getRedisToken, getStoreEngineToken, REDIS_MODULE_OPTIONS } from './redis.tokens.js';

/**
 * The connection `name` under its tokens: the connection, its ioredis client and its engine. The
 * default connection can also be injected by class, the most natural form for users.
 */
export function connectionProviders(name: string): Provider[] {
  const connectionToken = getRedisConnectionToken(name);
  const providers: Provider[] = [
    {
      provide: connectionToken,
      useFactory: (options: RedisConnectionOptions) => new RedisConnection(resolveRedisOptions(options), name),
      inject: [REDIS_MODULE_OPTIONS],
    },
    { provide: getRedisToken(name), useFactory: (c: RedisConnection) => c.client, inject: [connectionToken] },
    { provide: getStoreEngineToken(name), useFactory: (c: RedisConnection) => c.engine, inject: [connectionToken] },
  ];
  if (name === DEFAULT_REDIS_NAME) providers.push({ provide: RedisConnection, useExisting: connectionToken });
  return providers;
}
