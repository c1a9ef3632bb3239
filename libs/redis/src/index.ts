// The public API. Everything else under src/ is internal and may change without notice.
export { RedisModule } from './redis.module.js';
export type { RedisModuleExtras } from './redis.module-definition.js';
export {
  REDIS_DEFAULTS,
  type BreakerOptions,
  type MemoryStoreOptions,
  type RedisClusterOptions,
  type RedisModuleOptions,
  type RedisNodeAddress,
  type RedisSentinelOptions,
} from './redis.options.js';
export { toMs, type Duration } from './duration.js';
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
  CallOptions,
  EngineMode,
  JournalClass,
  MessageHandler,
  MsetEntry,
  PatternMessageHandler,
  ReplayIncomplete,
  ReplayRefused,
  SetOptions,
  StoreEngine,
  Unsubscribe,
  WriteOptions,
  ZEntry,
} from './engine/store-engine.port.js';
export { escapeGlob } from './engine/glob.util.js';
export {
  SessionService,
  type CreateSessionInput,
  type RefreshReuseEvent,
  type Session,
  type SessionCounters,
  type SessionListEntry,
  type SessionServiceEvents,
  type SessionStats,
  type SessionTokens,
} from './session/session.service.js';
export { TokenDenylist, type DenyInput } from './session/token-denylist.service.js';
export { SESSION_DEFAULTS, type SessionOptions } from './session/session.options.js';
export { SessionInputError, DenylistInputError, SessionUnavailableError } from './session/session.errors.js';
export { PubSubService, type PubSubHandler, type PubSubPatternHandler } from './pubsub/pubsub.service.js';
export { PubSubChannelError, PubSubHandlerError, PubSubMessageError } from './pubsub/pubsub.errors.js';
export {
  getRedisMetricsToken,
  RedisMetrics,
  type ActiveSessionsSource,
  type CacheMetricEvent,
  type RateLimitOutcome,
} from './metrics/redis-metrics.js';
export {
  RedisKitError,
  RedisConfigError,
  RedisUnavailableError,
  RedisTimeoutError,
  MemoryLimitError,
  JournalFullError,
  ClearRefusedError,
} from './redis.errors.js';
export { RateLimit, SkipRateLimit } from './rate-limit/rate-limit.decorator.js';
export { RateLimitGuard, RATE_LIMIT_OPTIONS, type RateLimitDecision, type ScopedPolicy, type DecisionSource } from './rate-limit/rate-limit.guard.js';
export type { PolicyOutcome } from './rate-limit/rate-limit.headers.js';
export {
  RateLimitConfigError,
  type RateLimitOptions,
  type RateLimitModuleOptions,
  type RateLimitAlgorithm,
  type RateLimitBy,
  type WhenUnavailable,
} from './rate-limit/rate-limit.options.js';
export {
  CacheService,
  type CacheGetOrSetOptions,
  type CacheMsetEntry,
  type CacheOutcome,
  type CacheSetOptions,
  type CacheStats,
} from './cache/cache.service.js';
export { CACHE_DEFAULTS, type CacheOptions } from './cache/cache.options.js';
export { CacheInputError, CacheRemoteLoadError, CacheSerializationError, CacheValueTooLargeError } from './cache/cache.errors.js';
export { Cacheable, CacheableInterceptor, CACHEABLE_OPTIONS, type CacheableOptions, type CacheVary, type HttpRequestLike } from './cache/cache.interceptor.js';
