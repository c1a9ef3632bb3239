import type { Provider } from '@nestjs/common';
import { getRedisConnectionToken } from '../connection/redis.tokens.js';
import type { RedisConnection } from '../connection/redis.connection.js';
import { PubSubService } from './pubsub.service.js';

/** Pub/sub on the connection `name`, with its own subscriber connection. */
export function pubSubProviders(name: string): Provider[] {
  return [{ provide: PubSubService, useFactory: (connection: RedisConnection) => new PubSubService(connection), inject: [getRedisConnectionToken(name)] }];
}
