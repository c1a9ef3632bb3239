// The public API, grouped by capability. Everything else under src/ is internal and may change
// without notice; health and metrics have their own entry points (optional peers).

// ---- Module, options, connection ------------------------------------------------------------
export { RedisModule } from './redis.module.js';
export type { RedisModuleExtras } from './redis.module-definition.js';
export type { RedisModuleOptions } from './redis.options.js';
export {
  REDIS_DEFAULTS,
  type BreakerOptions,
  type MemoryStoreOptions,
  type RedisClusterOptions,
  type RedisConnectionOptions,
  type RedisNodeAddress,
  type RedisSentinelOptions,
} from './connection/connection.options.js';
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
export {
  RedisKitError,
  RedisConfigError,
  RedisUnavailableError,
  RedisTimeoutError,
  MemoryLimitError,
} from './redis.errors.js';

// ---- The store port ---------------------------------------------------------------------------
export type { StoreEngine } from './engine/store-engine.port.js';
export type {
  CallOptions,
  EngineMode,
  MessageHandler,
  ModeListener,
  MsetEntry,
  PatternMessageHandler,
  ReplayIncomplete,
  ReplayIncompleteListener,
  SetOptions,
  Unsubscribe,
  WriteOptions,
  ZEntry,
} from './engine/store-engine.types.js';
export { escapeGlob } from './engine/glob.util.js';

// ---- Cache ------------------------------------------------------------------------------------
export { CacheService } from './cache/cache.service.js';
export type { CacheGetOrSetOptions, CacheMsetEntry, CacheOutcome, CacheSetOptions, CacheStats } from './cache/cache.types.js';
export { CACHE_DEFAULTS, type CacheOptions } from './cache/cache.options.js';
export { CacheInputError, CacheLoaderTimeoutError, CacheRemoteLoadError, CacheSerializationError, CacheValueTooLargeError } from './cache/cache.errors.js';
export { Cacheable, CacheableInterceptor, type CacheableOptions, type CacheVary, type HttpRequestLike } from './cache/cache.interceptor.js';

// ---- Sessions and the deny-list ---------------------------------------------------------------
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
export { SessionInputError, DenylistInputError } from './session/session.errors.js';

// ---- Rate limiting ----------------------------------------------------------------------------
export { RateLimit, SkipRateLimit } from './rate-limit/rate-limit.decorator.js';
// RATE_LIMIT_OPTIONS: for a RateLimitGuard subclass with a constructor of its own.
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

// ---- Pub/sub ----------------------------------------------------------------------------------
export { PubSubService, type PubSubHandler, type PubSubPatternHandler } from './pubsub/pubsub.service.js';
export { PubSubChannelError, PubSubHandlerError, PubSubMessageError } from './pubsub/pubsub.errors.js';

// ---- Metrics sink (the exporter is in `nestjs-redis-kit/metrics`) ------------------------------
// Injected into RateLimitGuard: a subclass with its own constructor passes it on.
export { RedisMetrics, type ActiveSessionsSource, type CacheMetricEvent, type RateLimitOutcome } from './metrics/redis-metrics.js';
