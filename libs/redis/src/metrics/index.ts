// Entry point `nestjs-redis-kit/metrics`: the only files that import prom-client (an optional peer).
export { RedisMetricsModule, type RedisMetricsModuleAsyncOptions } from './redis-metrics.module.js';
export { RedisMetricsExporter, type RedisMetricsModuleOptions } from './redis-metrics.exporter.js';
export { RedisStatusService, type ConnectionSnapshot, type ModeTransition, type RedisStatusSnapshot } from './redis-status.service.js';
export { mergeSummaries, parsePrometheusText, summarizeMetrics, type CacheFigures, type MetricSample, type MetricsSummary } from './redis-status.js';
export type { RedisServerSample, RedisServerSamplerOptions } from './redis-server.sampler.js';
