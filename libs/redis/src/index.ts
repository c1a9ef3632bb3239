// The public API. Everything else under src/ is internal and may change without notice.
export { RedisModule } from './redis.module.js';
export type { RedisModuleExtras } from './redis.module-definition.js';
export {
  REDIS_DEFAULTS,
  toMs,
  type BreakerOptions,
  type Duration,
  type MemoryStoreOptions,
  type RedisClusterOptions,
  type RedisModuleOptions,
  type RedisNodeAddress,
  type RedisSentinelOptions,
} from './redis.options.js';
export { redisOptionsFromEnv, REDIS_ENV_VARIABLES } from './config/redis-env.loader.js';
export { RedisConnection, type RedisStatus, type RedisConnectionEvents } from './connection/redis.connection.js';
export {
  DEFAULT_REDIS_NAME,
  getRedisToken,
  getRedisConnectionToken,
  getStoreEngineToken,
  InjectRedis,
  InjectRedisConnection,
  InjectStoreEngine,
} from './connection/redis.tokens.js';
export type {
  EngineMode,
  MessageHandler,
  MsetEntry,
  PatternMessageHandler,
  SetOptions,
  StoreEngine,
  Unsubscribe,
  WriteOptions,
  ZEntry,
} from './engine/store-engine.port.js';
export { escapeGlob } from './engine/glob.util.js';
export {
  RedisKitError,
  RedisConfigError,
  RedisUnavailableError,
  RedisTimeoutError,
  MemoryLimitError,
} from './redis.errors.js';
