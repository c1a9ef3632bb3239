import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RedisConnection, type RedisStatus } from '../connection/redis.connection.js';
import { DEFAULT_REDIS_NAME, getRedisConnectionToken } from '../connection/redis.tokens.js';
import { RedisConfigError } from '../redis.errors.js';
import { getRedisMetricsToken, RedisMetrics, type CacheMetricEvent, type RateLimitOutcome, type RedisMetricsRecorder } from './redis-metrics.js';

/** Options of `RedisMetricsModule.forRoot`. */
export interface RedisMetricsModuleOptions {
  /** Route of the scrape endpoint (default `'/metrics'`); `false` mounts none, so the app serves `RedisMetricsExporter.metrics()` itself. */
  path?: string | false;
  /** Connections to report on (default: the default connection). */
  connections?: string[];
  /** Registry to register into, e.g. prom-client's global `register`; default: one of its own per application. */
  registry?: Registry;
  /** Prefix of every metric name (default `'redis_kit_'`). */
  prefix?: string;
  /** Also collect prom-client's default process metrics into the registry (default false). */
  defaultMetrics?: boolean;
  /** Buckets of the command latency histogram, in seconds. */
  latencyBuckets?: number[];
}

export const REDIS_METRICS_OPTIONS = Symbol('REDIS_METRICS_OPTIONS');

const STATUSES: readonly RedisStatus[] = ['connecting', 'connected', 'memory-fallback', 'disconnected'];
// Sub-millisecond on a LAN up to the largest sensible command deadline.
const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
// A scrape must not hang on a store that does not answer.
const SOURCE_TIMEOUT_MS = 1_000;

interface Watched {
  name: string;
  connection: RedisConnection;
  metrics: RedisMetrics;
}

/**
 * Registers the Prometheus metrics and feeds them: capability counters through the `RedisMetrics`
 * recorder, engine state read at scrape time, breaker transitions from `mode` events, and command
 * latency from the fallback engine's hook (measured only while this exporter is attached).
 */
@Injectable()
export class RedisMetricsExporter implements OnModuleInit, OnModuleDestroy {
  readonly registry: Registry;
  private readonly prefix: string;
  private readonly cleanups: Array<() => void> = [];
  private readonly names: string[] = [];
  private watched: Watched[] = [];

  constructor(
    @Inject(REDIS_METRICS_OPTIONS) private readonly options: RedisMetricsModuleOptions,
    private readonly moduleRef: ModuleRef,
  ) {
    this.registry = options.registry ?? new Registry();
    this.prefix = options.prefix ?? 'redis_kit_';
  }

  /** The Prometheus text exposition of the registry. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  onModuleInit(): void {
    const names = this.options.connections ?? [DEFAULT_REDIS_NAME];
    this.watched = names.map((name) => this.resolve(name));
    this.register();
    if (this.options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: this.prefix });
  }

  onModuleDestroy(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    // A shared registry outlives the app; leaving our metrics in it would break the next start.
    for (const name of this.names.splice(0)) this.registry.removeSingleMetric(name);
  }

  private resolve(name: string): Watched {
    const find = <T>(token: string): T | undefined => {
      try {
        return this.moduleRef.get<T>(token, { strict: false });
      } catch {
        return undefined;
      }
    };
    const connection = find<RedisConnection>(getRedisConnectionToken(name));
    const metrics = find<RedisMetrics>(getRedisMetricsToken(name));
    if (!(connection instanceof RedisConnection) || !(metrics instanceof RedisMetrics)) {
      throw new RedisConfigError([`RedisMetricsModule: no Redis connection named "${name}" (import RedisModule.forRoot${name === DEFAULT_REDIS_NAME ? '' : `({ name: '${name}' })`} in the application)`]);
    }
    return { name, connection, metrics };
  }

  private n(name: string): string {
    const full = this.prefix + name;
    this.names.push(full);
    return full;
  }

  private register(): void {
    const registers = [this.registry];
    const watched = this.watched;

    new Gauge({
      name: this.n('engine_mode'),
      help: 'Where commands are served: 1 for the current mode (redis, or memory for the fallback and the embedded store), 0 for the other.',
      labelNames: ['connection', 'mode'],
      registers,
      collect() {
        for (const w of watched) {
          const mode = w.connection.engine.mode();
          this.set({ connection: w.name, mode: 'redis' }, mode === 'redis' ? 1 : 0);
          this.set({ connection: w.name, mode: 'memory' }, mode === 'fallback' || mode === 'embedded' ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: this.n('connection_status'),
      help: 'Status of the Redis connection: 1 for the current status, 0 for the others.',
      labelNames: ['connection', 'status'],
      registers,
      collect() {
        for (const w of watched) for (const s of STATUSES) this.set({ connection: w.name, status: s }, w.connection.status() === s ? 1 : 0);
      },
    });
    new Gauge({
      name: this.n('fallback_journal_size'),
      help: 'Writes made during an outage that wait to be replayed to Redis.',
      labelNames: ['connection'],
      registers,
      collect() {
        for (const w of watched) {
          const stats = w.connection.breakerStats();
          if (stats) this.set({ connection: w.name }, stats.journalSize);
        }
      },
    });

    const transitions = new Counter({
      name: this.n('fallback_transitions_total'),
      help: 'Switches of the engine between Redis and the fallback, by the mode switched to.',
      labelNames: ['connection', 'to'],
      registers,
    });
    const latency = new Histogram({
      name: this.n('command_duration_seconds'),
      help: 'Duration of commands sent to Redis, including those that failed or timed out.',
      labelNames: ['connection', 'outcome'],
      buckets: this.options.latencyBuckets ?? DEFAULT_BUCKETS,
      registers,
    });
    for (const w of watched) {
      for (const to of ['memory', 'redis'] as const) transitions.inc({ connection: w.name, to }, 0);
      const stats = w.connection.breakerStats();
      if (!stats) continue;
      // Switches that happened before the exporter started (e.g. Redis down at boot) still count.
      if (stats.opened > 0) transitions.inc({ connection: w.name, to: 'memory' }, stats.opened);
      if (stats.recovered > 0) transitions.inc({ connection: w.name, to: 'redis' }, stats.recovered);
      const offMode = w.connection.engine.onModeChange((mode) => transitions.inc({ connection: w.name, to: mode === 'redis' ? 'redis' : 'memory' }));
      const offTiming = w.connection.observeCommands((ms, ok) => latency.observe({ connection: w.name, outcome: ok ? 'ok' : 'error' }, ms / 1_000));
      this.cleanups.push(offMode, offTiming);
    }

    const cacheCounters: Record<CacheMetricEvent, Counter<'namespace'>> = {
      hit: new Counter({ name: this.n('cache_hits_total'), help: 'Cache reads answered from the cache, by namespace.', labelNames: ['namespace'], registers }),
      miss: new Counter({ name: this.n('cache_misses_total'), help: 'Cache reads that found nothing, by namespace.', labelNames: ['namespace'], registers }),
      stale: new Counter({ name: this.n('cache_stale_total'), help: 'Stale values served within their grace period, by namespace.', labelNames: ['namespace'], registers }),
      load: new Counter({ name: this.n('cache_loads_total'), help: 'Loader runs of getOrSet, by namespace.', labelNames: ['namespace'], registers }),
    };
    const rateLimit = new Counter({
      name: this.n('rate_limit_decisions_total'),
      help: 'Rate-limit decisions, by policy and outcome (allowed or refused).',
      labelNames: ['policy', 'outcome'],
      registers,
    });
    const reuse = new Counter({
      name: this.n('refresh_token_reuse_total'),
      help: 'Refresh tokens presented again after rotation (the token family is revoked).',
      registers,
    });
    new Gauge({
      name: this.n('sessions_active'),
      help: 'Active sessions in the store, counted when scraped.',
      labelNames: ['connection'],
      registers,
      async collect() {
        this.reset();
        await Promise.all(
          watched.map(async (w) => {
            const source = w.metrics.activeSessionsSource();
            if (!source) return;
            // Called inside a promise so a source that throws synchronously cannot fail the scrape.
            const count = await withTimeout(Promise.resolve().then(source), SOURCE_TIMEOUT_MS).catch(() => undefined);
            // An unknown count is left out rather than reported as 0 or as a stale number.
            if (typeof count === 'number' && Number.isFinite(count)) this.set({ connection: w.name }, count);
          }),
        );
      },
    });

    const recorder: RedisMetricsRecorder = {
      cache: (namespace, event) => cacheCounters[event].inc({ namespace }),
      rateLimit: (policy, outcome: RateLimitOutcome) => rateLimit.inc({ policy, outcome }),
      refreshTokenReuse: () => reuse.inc(),
    };
    for (const w of watched) this.cleanups.push(w.metrics.attach(recorder));
  }
}

function withTimeout<T>(value: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([value, timeout]).finally(() => clearTimeout(timer));
}
