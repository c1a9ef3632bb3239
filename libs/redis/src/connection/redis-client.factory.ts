import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ResolvedRedisOptions, RedisTarget } from './connection.options.js';

/**
 * Builds the ioredis client for a target. Every choice here serves the outage model:
 * - no offline queue: a command issued while disconnected fails at once instead of waiting;
 * - no automatic resend after a reconnect: a non-idempotent write (a counter, a rate-limit hit)
 *   must not be applied twice; the caller already got an error for it;
 * - lazy connect: the module connects in `onModuleInit`, so an import alone opens no socket.
 */
export function createRedisClient(
  target: Exclude<RedisTarget, { kind: 'none' | 'client' }>,
  options: ResolvedRedisOptions,
  /** Settings that replace the outage-model ones (a BullMQ connection needs the opposite ones). */
  overrides: RedisOptions = {},
): Redis | Cluster {
  const base: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(options.connectTimeoutMs, 1_000),
    // How long a closing socket may linger; shutdown waits for it.
    disconnectTimeout: 200,
    // Keep trying for as long as the app lives, but never more often than every 2 s once it is clearly down.
    retryStrategy: (attempt) => Math.min(100 * 2 ** (attempt - 1), 2_000) + Math.floor(Math.random() * 100),
  };
  const common: RedisOptions = { ...base, ...overrides };
  switch (target.kind) {
    case 'standalone':
      return new Redis({
        ...common,
        host: target.host,
        port: target.port,
        username: target.username,
        password: target.password,
        db: target.db,
        tls: target.tls,
      });
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: target.sentinels,
        name: target.name,
        username: target.username,
        password: target.password,
        sentinelUsername: target.sentinelUsername,
        sentinelPassword: target.sentinelPassword,
        db: target.db,
        tls: target.tls,
        enableTLSForSentinelMode: target.tls !== undefined,
        sentinelTLS: target.sentinelTls,
        // Follow +switch-master at once instead of discovering the failover through errors.
        failoverDetector: true,
        sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
      });
    case 'cluster':
      return new Cluster(target.nodes, {
        lazyConnect: common.lazyConnect,
        enableOfflineQueue: common.enableOfflineQueue,
        enableReadyCheck: common.enableReadyCheck,
        redisOptions: {
          username: target.username,
          password: target.password,
          tls: target.tls,
          connectTimeout: common.connectTimeout,
          autoResendUnfulfilledCommands: common.autoResendUnfulfilledCommands,
          maxRetriesPerRequest: common.maxRetriesPerRequest,
        },
        clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        // A multi-key command (every session script) on a slot whose keys are half migrated gets
        // TRYAGAIN; ioredis resends it after this delay (ASK it follows at once), up to
        // maxRedirections (16) times. Short, so several resends fit in commandTimeoutMs.
        retryDelayOnTryAgain: 20,
        slotsRefreshTimeout: 1_000,
      });
  }
}
