// Entry point `nestjs-redis-kit/metrics`: the only files that import prom-client (an optional peer).
export { RedisMetricsModule } from './redis-metrics.module.js';
export { RedisMetricsExporter, type RedisMetricsModuleOptions } from './redis-metrics.exporter.js';
