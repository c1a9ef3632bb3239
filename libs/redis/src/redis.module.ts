import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { RedisConnection } from './connection/redis.connection.js';
import { DEFAULT_REDIS_NAME, getRedisConnectionToken, getRedisToken, getStoreEngineToken } from './connection/redis.tokens.js';
import {
  ConfigurableRedisModule,
  REDIS_ASYNC_OPTIONS_TYPE,
  REDIS_MODULE_OPTIONS,
  REDIS_OPTIONS_TYPE,
} from './redis.module-definition.js';
import { resolveRedisOptions, type RedisModuleOptions } from './redis.options.js';

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
  ];
  const exported: Array<string | typeof RedisConnection> = [connectionToken, getRedisToken(name), getStoreEngineToken(name)];
  // The default connection can also be injected by its class, the most natural form for users.
  if (name === DEFAULT_REDIS_NAME) {
    providers.push({ provide: RedisConnection, useExisting: connectionToken });
    exported.push(RedisConnection);
  }
  return {
    ...definition,
    providers: [...(definition.providers ?? []), ...providers],
    exports: [...(definition.exports ?? []), ...exported],
  };
}
