import type { Provider } from '@nestjs/common';
import type { RedisConnection } from '../connection/redis.connection.js';
import { getRedisConnectionToken, REDIS_MODULE_OPTIONS } from '../connection/redis.tokens.js';
import type { HistoryOptions } from './history.options.js';
import { MessageHistory } from './history.service.js';

/** The message history of the connection `name`, on its engine; its options are validated at start-up. */
export function historyProviders(name: string): Provider[] {
  return [
    {
      provide: MessageHistory,
      useFactory: (connection: RedisConnection, options: { history?: HistoryOptions } | undefined) => MessageHistory.create(connection, options?.history),
      inject: [getRedisConnectionToken(name), REDIS_MODULE_OPTIONS],
    },
  ];
}
