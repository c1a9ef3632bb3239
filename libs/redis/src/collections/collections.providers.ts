import type { Provider } from '@nestjs/common';
import type { RedisConnection } from '../connection/redis.connection.js';
import { getRedisConnectionToken } from '../connection/redis.tokens.js';
import { RedisCollections } from './collections.service.js';

/** The collections of the connection `name`, on its engine (so they follow its outage story). */
export function collectionsProviders(name: string): Provider[] {
  return [
    {
      provide: RedisCollections,
      useFactory: (connection: RedisConnection) => new RedisCollections(connection.engine),
      inject: [getRedisConnectionToken(name)],
    },
  ];
}
