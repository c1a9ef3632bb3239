import { Controller, Get, Header, Module, type DynamicModule, type Type } from '@nestjs/common';
import { Registry } from 'prom-client';
import { RedisConfigError } from '../redis.errors.js';
import { REDIS_METRICS_OPTIONS, RedisMetricsExporter, type RedisMetricsModuleOptions } from './redis-metrics.exporter.js';
import { RedisStatusService } from './redis-status.service.js';

/**
 * Prometheus metrics for the Redis kit: `RedisMetricsModule.forRoot({ path: '/metrics' })`.
 * Lives in `nestjs-redis-kit/metrics` so that prom-client stays an optional peer: applications
 * that never import this entry point never load it, and capabilities report into a no-op.
 */
@Module({})
export class RedisMetricsModule {
  static forRoot(options: RedisMetricsModuleOptions = {}): DynamicModule {
    const path = options.path ?? '/metrics';
    if (path !== false && (typeof path !== 'string' || path.trim() === '')) {
      throw new RedisConfigError([`RedisMetricsModule: path must be a non-empty route or false (got ${JSON.stringify(path)})`]);
    }
    if (options.connections !== undefined && (!Array.isArray(options.connections) || options.connections.length === 0)) {
      throw new RedisConfigError(['RedisMetricsModule: connections must list at least one connection name']);
    }
    return {
      module: RedisMetricsModule,
      providers: [{ provide: REDIS_METRICS_OPTIONS, useValue: options }, RedisMetricsExporter, RedisStatusService],
      exports: [RedisMetricsExporter, RedisStatusService],
      controllers: path === false ? [] : [metricsController(path)],
    };
  }
}

/** A controller per route: Nest reads routes from decorators, so a configurable path needs its own class. */
function metricsController(path: string): Type {
  @Controller()
  class RedisMetricsController {
    constructor(private readonly exporter: RedisMetricsExporter) {}

    @Get(path)
    @Header('Content-Type', Registry.PROMETHEUS_CONTENT_TYPE)
    @Header('Cache-Control', 'no-store')
    scrape(): Promise<string> {
      return this.exporter.metrics();
    }
  }
  return RedisMetricsController;
}
