import type { Provider } from '@nestjs/common';
import type { RedisConnection } from '../connection/redis.connection.js';
import { getRedisConnectionToken, REDIS_MODULE_OPTIONS } from '../connection/redis.tokens.js';
import type { PresenceOptions } from './presence.options.js';
import { PresenceService } from './presence.service.js';

/** Presence on the connection `name`, on its engine (so it follows its outage story). */
export function presenceProviders(name: string): Provider[] {
  return [
    {
      provide: PresenceService,
      useFactory: (options: { presence?: PresenceOptions } | undefined, connection: RedisConnection) => new PresenceService(connection.engine, options?.presence),
      inject: [REDIS_MODULE_OPTIONS, getRedisConnectionToken(name)],
    },
  ];
}
