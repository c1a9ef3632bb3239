import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { RedisConfigError } from '../redis.errors.js';
import { resolveRedisOptions, type RedisConnectionOptions } from './connection.options.js';
import { createRedisClient } from './redis-client.factory.js';

/**
 * The settings BullMQ requires of its connection, the opposite of the module's fail-fast ones:
 * blocking commands (BRPOPLPUSH, BZPOPMIN, XREAD BLOCK) wait as long as they need, and a command
 * issued while reconnecting is queued rather than failed.
 */
export const BULLMQ_CONNECTION_SETTINGS = {
  maxRetriesPerRequest: null,
  enableReadyCheck: false,
  enableOfflineQueue: true,
  autoResendUnfulfilledCommands: true,
} as const satisfies RedisOptions;

/**
 * A new ioredis client for BullMQ (`new Queue(name, { connection })`, `new Worker(...)`), reaching
 * the same Redis as `RedisModule` from the same options (`url`, `host`…, `sentinel`, `cluster`, TLS,
 * ACL user), with {@link BULLMQ_CONNECTION_SETTINGS}. It connects at once.
 *
 * - `keyPrefix` is not applied: ioredis key prefixes break BullMQ's scripts; give BullMQ its own
 *   `prefix` option instead (e.g. `prefix: 'myapp:bull'`).
 * - With `client` in the options, that client is duplicated with BullMQ's settings.
 * - The caller owns the client: close it (`quit()`) on shutdown, e.g. in `onApplicationShutdown`.
 *
 * ```ts
 * const connection = createBullMqConnection(redisOptionsFromEnv());
 * const queue = new Queue('emails', { connection, prefix: 'myapp:bull' });
 * ```
 */
export function createBullMqConnection(options: RedisConnectionOptions): Redis | Cluster {
  const resolved = resolveRedisOptions(options);
  const { target } = resolved;
  if (target.kind === 'none') {
    throw new RedisConfigError(['createBullMqConnection needs a Redis: set url, host, sentinel, cluster or client (BullMQ cannot run on the in-memory store)']);
  }
  if (target.kind === 'client') {
    const client = target.client;
    if (client.isCluster) {
      const cluster = client as Cluster;
      return cluster.duplicate(undefined, {
        enableOfflineQueue: true,
        enableReadyCheck: false,
        redisOptions: { ...cluster.options.redisOptions, maxRetriesPerRequest: null, autoResendUnfulfilledCommands: true },
      });
    }
    return (client as Redis).duplicate({ ...BULLMQ_CONNECTION_SETTINGS, lazyConnect: false });
  }
  return createRedisClient(target, resolved, { ...BULLMQ_CONNECTION_SETTINGS, lazyConnect: false });
}
