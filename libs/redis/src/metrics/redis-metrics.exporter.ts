import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RedisConnection, type RedisStatus } from '../connection/redis.connection.js';
import { DEFAULT_REDIS_NAME, getRedisConnectionToken } from '../connection/redis.tokens.js';
import { RedisConfigError } from '../redis.errors.js';
import { getRedisMetricsToken, RedisMetrics, type CacheMetricEvent, type CacheRouteOutcome, type RateLimitOutcome, type RedisMetricsRecorder } from './redis-metrics.js';
import { RedisServerSampler, type RedisServerSample, type RedisServerSamplerOptions } from './redis-server.sampler.js';
import { withTimeout } from './with-timeout.js';

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
  /** Distinct `@Cacheable` routes kept as labels (default 100); further ones are counted as `other`. */
  maxRoutes?: number;
  /** Distinct rate-limit policy names kept as labels (default 100); further ones are counted as `other`. */
  maxPolicies?: number;
  /** How the Redis server figures (INFO, DBSIZE, SLOWLOG, key sample) are read; `false` reads none. */
  server?: RedisServerSamplerOptions | false;
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
  sampler?: RedisServerSampler;
}

/**
 * Registers the Prometheus metrics and feeds them: capability counters through the `RedisMetrics`
 * recorder, engine state read at scrape time, breaker transitions from `mode` events, and command
 * latency from the fallback engine's hook (measured only while this exporter is attached).
 */
@Injectable()
export class RedisMetricsExporter implements OnModuleInit, OnModuleDestroy {
  readonly registry: Registry;
  readonly prefix: string;
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

  /** The connections reported on. */
  watchedConnections(): Array<{ name: string; connection: RedisConnection }> {
    return this.watched.map((w) => ({ name: w.name, connection: w.connection }));
  }

  /** The Redis server figures of a connection (cached for a second); null when Redis cannot be asked. */
  serverSample(connection: string = DEFAULT_REDIS_NAME): Promise<RedisServerSample | null> {
    return this.watched.find((w) => w.name === connection)?.sampler?.sample() ?? Promise.resolve(null);
  }

  onModuleInit(): void {
    const names = this.options.connections ?? [DEFAULT_REDIS_NAME];
    this.watched = names.map((name) => this.resolve(name));
    if (this.options.server !== false) {
      for (const w of this.watched) {
        w.sampler = new RedisServerSampler(w.connection, this.options.server ?? {});
        // The baseline of the SLOWLOG and counters: what happens from now on is counted.
        if (w.connection.status() === 'connected') void w.sampler.sample();
        else w.connection.once('status', () => void w.sampler?.sample());
      }
    }
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
      bypass: new Counter({ name: this.n('cache_bypass_total'), help: "getOrSet calls answered by the loader alone (Redis away, fallback: 'none'), by namespace.", labelNames: ['namespace'], registers }),
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

    const routes = new Counter({
      name: this.n('cache_route_requests_total'),
      help: 'Responses of @Cacheable routes, by route template and outcome (hit, stale or miss).',
      labelNames: ['route', 'outcome'],
      registers,
    });
    const unchecked = new Counter({
      name: this.n('rate_limit_unchecked_total'),
      help: 'Rate-limit decisions Redis could not make, by policy and what the policy did instead (local, open or closed).',
      labelNames: ['policy', 'when_unavailable'],
      registers,
    });
    const routeLabel = bounded(this.options.maxRoutes ?? 100);
    const policyLabel = bounded(this.options.maxPolicies ?? 100);
    this.registerServer(registers);

    const recorder: RedisMetricsRecorder = {
      cache: (namespace, event) => cacheCounters[event].inc({ namespace }),
      rateLimit: (policy, outcome: RateLimitOutcome) => rateLimit.inc({ policy: policyLabel(policy), outcome }),
      refreshTokenReuse: () => reuse.inc(),
      cacheRoute: (route, outcome: CacheRouteOutcome) => routes.inc({ route: routeLabel(route), outcome }),
      rateLimitUnchecked: (policy, behaviour) => unchecked.inc({ policy: policyLabel(policy), when_unavailable: behaviour }),
    };
    for (const w of watched) this.cleanups.push(w.metrics.attach(recorder));
  }

  /** Figures read from Redis itself at scrape time, one sampling round per connection shared by all of them. */
  private registerServer(registers: Registry[]): void {
    if (this.options.server === false) return;
    const watched = this.watched;
    const read = async (): Promise<Array<[Watched, RedisServerSample | null]>> => Promise.all(watched.map(async (w) => [w, (await w.sampler?.sample()) ?? null] as [Watched, RedisServerSample | null]));
    const gauge = (name: string, help: string, value: (s: RedisServerSample) => number | null) =>
      new Gauge({
        name: this.n(name),
        help,
        labelNames: ['connection'],
        registers,
        async collect() {
          this.reset();
          for (const [w, s] of await read()) {
            const v = s ? value(s) : null;
            if (v !== null) this.set({ connection: w.name }, v);
          }
        },
      });
    // Counters whose totals the sampler keeps: the sample is the value, so they never go down.
    const counter = (name: string, help: string, value: (s: RedisServerSample) => number) =>
      new Counter({
        name: this.n(name),
        help,
        labelNames: ['connection'],
        registers,
        async collect() {
          await read();
          this.reset();
          for (const w of watched) {
            const s = w.sampler?.latest();
            if (s) this.inc({ connection: w.name }, value(s));
          }
        },
      });
    new Gauge({
      name: this.n('redis_up'),
      help: 'Whether Redis answered the last sampling round (INFO on every master): 1 yes, 0 no (down, or serving from the fallback).',
      labelNames: ['connection'],
      registers,
      async collect() {
        // Left out for the embedded store: there is no Redis to be up or down.
        for (const [w, s] of await read()) if (w.connection.client !== null) this.set({ connection: w.name }, s ? 1 : 0);
      },
    });
    gauge('redis_nodes', 'Redis servers sampled: 1, or the masters of a Cluster.', (s) => s.nodes);
    gauge('redis_ops_per_second', 'Commands per second processed by Redis (instantaneous_ops_per_sec, summed over masters).', (s) => s.opsPerSec);
    gauge('redis_connected_clients', 'Client connections to Redis (summed over masters).', (s) => s.connectedClients);
    gauge('redis_memory_used_bytes', 'Memory used by Redis (used_memory, summed over masters).', (s) => s.usedMemoryBytes);
    gauge('redis_memory_max_bytes', 'maxmemory (summed over masters); 0 when a server has no limit.', (s) => s.maxMemoryBytes);
    gauge('redis_memory_ratio', 'used_memory / maxmemory of the fullest master; absent when a server has no maxmemory.', (s) => s.memoryRatio);
    gauge('redis_keys', 'Keys in the database (DBSIZE, summed over masters).', (s) => s.keys);
    counter('redis_commands_processed_total', 'Commands processed by Redis since this instance started watching (total_commands_processed deltas).', (s) => s.commandsProcessed);
    counter('redis_evicted_keys_total', 'Keys evicted by Redis under maxmemory since this instance started watching.', (s) => s.evictedKeys);
    counter('redis_expired_keys_total', 'Keys expired by Redis since this instance started watching.', (s) => s.expiredKeys);
    new Gauge({
      name: this.n('redis_keys_estimate'),
      help: 'Keys per capability prefix (cache, sess, rl, ...), estimated from a bounded sample (exact on small databases).',
      labelNames: ['connection', 'prefix'],
      registers,
      async collect() {
        this.reset();
        for (const [w, s] of await read()) if (s) for (const [prefix, n] of Object.entries(s.keysByPrefix)) this.set({ connection: w.name, prefix }, n);
      },
    });
    new Counter({
      name: this.n('redis_slow_commands_total'),
      help: 'Entries added to the Redis SLOWLOG since this instance started watching, by command name.',
      labelNames: ['connection', 'command'],
      registers,
      async collect() {
        await read();
        this.reset();
        for (const w of watched) {
          const s = w.sampler?.latest();
          if (s) for (const [command, n] of Object.entries(s.slowCommands)) this.inc({ connection: w.name, command }, n);
        }
      },
    });
  }
}

/** Keeps the first `max` distinct values as labels; later ones become `other`, so a series count stays bounded. */
function bounded(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}
