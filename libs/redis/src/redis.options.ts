import type { CacheOptions } from './cache/cache.options.js';
import type { RedisConnectionOptions } from './connection/connection.options.js';
import type { HistoryOptions } from './history/history.options.js';
import type { PresenceOptions } from './presence/presence.options.js';
import type { RateLimitModuleOptions } from './rate-limit/rate-limit.options.js';
import type { SessionOptions } from './session/session.options.js';

export {
  describeTarget,
  REDIS_DEFAULTS,
  resolveRedisOptions,
  type BreakerOptions,
  type MemoryStoreOptions,
  type RedisClusterOptions,
  type RedisConnectionOptions,
  type RedisNodeAddress,
  type RedisSentinelOptions,
  type RedisTarget,
  type ResolvedRedisOptions,
} from './connection/connection.options.js';

/**
 * Everything `RedisModule.forRoot` takes: the connection, and one section per capability. It sits
 * above the capabilities so none of them has to import the module's options back.
 */
export interface RedisModuleOptions extends RedisConnectionOptions {
  /** Sessions and the JWT deny-list (timeouts, outage policy, durability, own connection). */
  session?: SessionOptions;
  /** Rate limiting: module-wide policies, proxy trust, headers (see `RateLimitModuleOptions`). */
  rateLimit?: RateLimitModuleOptions;
  /** The cache: default TTL, jitter, grace, compression, size limit, stampede lock, in-process tier. */
  cache?: CacheOptions;
  /** Message history (`MessageHistory`): messages kept per room, largest message. */
  history?: HistoryOptions;
  /** Presence: how long a crashed instance's sockets stay listed (`ttl`) and the heartbeat. */
  presence?: PresenceOptions;
}
