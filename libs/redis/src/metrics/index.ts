// Entry point `nestjs-redis-kit/metrics`: the only files that import prom-client (an optional peer).
export { RedisMetricsModule, type RedisMetricsModuleAsyncOptions } from './redis-metrics.module.js';
export { RedisMetricsExporter, type RedisMetricsModuleOptions } from './redis-metrics.exporter.js';
