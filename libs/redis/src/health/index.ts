// Entry point `nestjs-redis-kit/health`: the only files that import @nestjs/terminus (an optional peer).
export { RedisHealthModule } from './redis-health.module.js';
export type { RedisHealthModuleOptions } from './redis-health.options.js';
export { RedisHealthIndicator, REDIS_HEALTH_DEFAULT_TIMEOUT_MS, type RedisHealthCheckOptions } from './redis.health.js';
export type { RedisHealthDetails, RedisTopology } from './redis-health.probe.js';
