import { Controller, Get, Header, Module, type DynamicModule, type FactoryProvider, type ModuleMetadata, type Type } from '@nestjs/common';
import { Registry } from 'prom-client';
import { RedisConfigError } from '../redis.errors.js';
import { REDIS_METRICS_OPTIONS, RedisMetricsExporter, type RedisMetricsModuleOptions } from './redis-metrics.exporter.js';
import { RedisStatusService } from './redis-status.service.js';

/**
 * Options of {@link RedisMetricsModule.forRootAsync}. The route is known when the module is
 * declared (Nest reads routes from decorators), so `path` sits here and not in the factory's result.
 */
export interface RedisMetricsModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** Route of the scrape endpoint (default `'/metrics'`); `false` mounts none. */
  path?: string | false;
  /** Providers to inject into `useFactory`, e.g. `[ConfigService]`. */
  inject?: FactoryProvider['inject'];
  /** Returns the remaining options (`connections`, `registry`, `prefix`, ...); a `path` in the result is ignored. */
  useFactory: (...args: never[]) => Omit<RedisMetricsModuleOptions, 'path'> | Promise<Omit<RedisMetricsModuleOptions, 'path'>>;
}

/**
 * Prometheus metrics for the Redis kit: `RedisMetricsModule.forRoot({ path: '/metrics' })`.
 * Lives in `nestjs-redis-kit/metrics` so that prom-client stays an optional peer: applications
 * that never import this entry point never load it, and capabilities report into a no-op.
 */
@Module({})
export class RedisMetricsModule {
  /** Registers the exporter and, unless `path: false`, the scrape route. */
  static forRoot(options: RedisMetricsModuleOptions = {}): DynamicModule {
    const path = checkPath(options.path);
    checkConnections(options);
    return {
      module: RedisMetricsModule,
      providers: [{ provide: REDIS_METRICS_OPTIONS, useValue: options }, RedisMetricsExporter, RedisStatusService],
      exports: [RedisMetricsExporter, RedisStatusService],
      controllers: path === false ? [] : [metricsController(path)],
    };
  }

  /**
   * Like {@link RedisMetricsModule.forRoot}, with the options from a factory, e.g. read from
   * `ConfigService`: `forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (c) => ({ prefix: c.get('METRICS_PREFIX') }) })`.
   */
  static forRootAsync(options: RedisMetricsModuleAsyncOptions): DynamicModule {
    if (!options || typeof options.useFactory !== 'function') throw new RedisConfigError(['RedisMetricsModule.forRootAsync: useFactory must be a function']);
    const path = checkPath(options.path);
    const useFactory = async (...args: never[]): Promise<RedisMetricsModuleOptions> => {
      const resolved = (await options.useFactory(...args)) ?? {};
      checkConnections(resolved);
      return { ...resolved, path };
    };
    return {
      module: RedisMetricsModule,
      imports: options.imports ?? [],
      providers: [{ provide: REDIS_METRICS_OPTIONS, useFactory, inject: options.inject ?? [] }, RedisMetricsExporter],
      exports: [RedisMetricsExporter],
      controllers: path === false ? [] : [metricsController(path)],
    };
  }
}

function checkPath(value: string | false | undefined): string | false {
  const path = value ?? '/metrics';
  if (path !== false && (typeof path !== 'string' || path.trim() === '')) {
    throw new RedisConfigError([`RedisMetricsModule: path must be a non-empty route or false (got ${JSON.stringify(path)})`]);
  }
  return path;
}

function checkConnections(options: Pick<RedisMetricsModuleOptions, 'connections'>): void {
  if (options.connections !== undefined && (!Array.isArray(options.connections) || options.connections.length === 0)) {
    throw new RedisConfigError(['RedisMetricsModule: connections must list at least one connection name']);
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
