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
export { redisOptionsFromEnv, REDIS_ENV_VARIABLES, type RedisEnvOptions, type EnvSource as RedisEnvSource } from './config/redis-env.loader.js';
export { RedisConnection, type RedisStatus, type RedisConnectionEvents } from './connection/redis.connection.js';
export { createBullMqConnection, BULLMQ_CONNECTION_SETTINGS } from './connection/bullmq.connection.js';
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
  JournalFullError,
  ClearRefusedError,
  RedisPermissionError,
} from './redis.errors.js';
export { redisAclRule, REDIS_ACL_COMMANDS, REDIS_ACL_CLUSTER_COMMANDS, REDIS_SENTINEL_ACL_RULE, type RedisAclRuleOptions } from './connection/redis-acl.js';

// ---- The store port ---------------------------------------------------------------------------
export type { StoreEngine } from './engine/store-engine.port.js';
export type {
  CallOptions,
  EngineMode,
  JournalClass,
  MessageHandler,
  ModeListener,
  MsetEntry,
  PatternMessageHandler,
  ReplayIncomplete,
  ReplayIncompleteListener,
  ReplayRefused,
  SetOptions,
  SubscribeOptions,
  Unsubscribe,
  WriteOptions,
  ZEntry,
} from './engine/store-engine.types.js';
export type { StreamEntry } from './engine/store-engine.types.js';
export { escapeGlob } from './engine/glob.util.js';

// ---- Cache ------------------------------------------------------------------------------------
export { CacheService } from './cache/cache.service.js';
export type { CacheGetOrSetOptions, CacheMsetEntry, CacheOutcome, CacheSetOptions, CacheStats } from './cache/cache.types.js';
export { CACHE_DEFAULTS, type CacheOptions } from './cache/cache.options.js';
export type { CacheEncryptionKey, CacheEncryptionOptions } from './cache/cache.encryption.js';
export { CacheInputError, CacheLoaderTimeoutError, CacheRemoteLoadError, CacheSerializationError, CacheValueTooLargeError } from './cache/cache.errors.js';
export { Cacheable, CacheableInterceptor, type CacheableOptions, type CacheVary, type HttpRequestLike } from './cache/cache.interceptor.js';
export { Cached, CacheEvict, type CachedOptions, type CacheEvictOptions, type CacheListOption } from './cache/cache.methods.js';

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
export { SessionInputError, DenylistInputError, SessionUnavailableError } from './session/session.errors.js';
export {
  SessionGuard,
  CurrentSession,
  CurrentUser,
  SESSION_GUARD_OPTIONS,
  SESSION_REQUEST_PROPERTY,
  type SessionGuardOptions,
  type RequestSession,
  type SessionUser,
} from './session/session.guard.js';
export {
  sessionCookie,
  clearSessionCookie,
  readSessionId,
  readCookie,
  DEFAULT_SESSION_COOKIE,
  type SessionCookieOptions,
  type SessionHttpRequest,
  type SessionIdLookup,
  type SessionIdSources,
} from './session/session.http.js';

// ---- Rate limiting ----------------------------------------------------------------------------
export { RateLimit, SkipRateLimit } from './rate-limit/rate-limit.decorator.js';
// RATE_LIMIT_OPTIONS: for a RateLimitGuard subclass with a constructor of its own.
export { RateLimitGuard, RATE_LIMIT_OPTIONS, type RateLimitDecision, type ScopedPolicy, type DecisionSource } from './rate-limit/rate-limit.guard.js';
export type { PolicyOutcome } from './rate-limit/rate-limit.headers.js';
// The decision apart from HTTP: for WebSocket gateways, microservice handlers and background jobs.
export { RateLimiter, type RateLimitCharge } from './rate-limit/rate-limiter.service.js';
export {
  RateLimitConfigError,
  type RateLimitMessage,
  type RateLimitRefusal,
  type RateLimitOptions,
  type RateLimitModuleOptions,
  type RateLimitAlgorithm,
  type RateLimitBy,
  type WhenUnavailable,
  type RateLimitUnguarded,
} from './rate-limit/rate-limit.options.js';

// ---- Pub/sub ----------------------------------------------------------------------------------
export { PubSubService, type PubSubHandler, type PubSubPatternHandler } from './pubsub/pubsub.service.js';
export { PubSubChannelError, PubSubHandlerError, PubSubMessageError } from './pubsub/pubsub.errors.js';

// ---- Collections and the move from in-process Maps ---------------------------------------------
export { RedisCollections } from './collections/collections.service.js';
export { RedisMap, type MapKey, type SetManyOptions } from './collections/map.collection.js';
export { RedisSet } from './collections/set.collection.js';
export { RedisCounter } from './collections/counter.collection.js';
export { RedisList } from './collections/list.collection.js';
export { RedisLeaderboard, type LeaderboardEntry } from './collections/leaderboard.collection.js';
export type { CollectionOptions, CollectionWhenUnavailable, CounterOptions, ListOptions, MapOptions } from './collections/collections.options.js';
export {
  migrateMap,
  type MigrateMapOptions,
  type MigrationProgress,
  type MigrationReport,
  type MigrationSource,
  type MigrationVerification,
} from './collections/map.migration.js';
export { CollectionInputError, CollectionValueError, MigrationAbortedError } from './collections/collections.errors.js';
export { MessageHistory } from './history/history.service.js';
export { HistoryInputError } from './history/history.errors.js';
export { HISTORY_DEFAULTS, type HistoryOptions } from './history/history.options.js';
export type { HistoryMessage, HistoryMessageInput } from './history/history.types.js';

// ---- Presence (who is online, across instances) -----------------------------------------------
export { PresenceService } from './presence/presence.service.js';
export { PRESENCE_DEFAULTS, type PresenceOptions } from './presence/presence.options.js';
export { PresenceInputError } from './presence/presence.errors.js';

// ---- Metrics sink (the exporter is in `nestjs-redis-kit/metrics`) ------------------------------
// Injected into RateLimitGuard: a subclass with its own constructor passes it on.
export { RedisMetrics, type ActiveSessionsSource, type CacheMetricEvent, type CacheRouteOutcome, type RateLimitOutcome } from './metrics/redis-metrics.js';
