import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Registry } from 'prom-client';
import request from 'supertest';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { FallbackEngine } from '../../src/engine/fallback.engine.js';
import { RedisModule } from '../../src/redis.module.js';
import { sample, scrape } from './metrics.fixture.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { RedisMetricsExporter, type RedisMetricsModuleOptions } from '../../src/metrics/redis-metrics.exporter.js';
import { RedisMetricsModule } from '../../src/metrics/redis-metrics.module.js';
import { RedisMetrics } from '../../src/metrics/redis-metrics.js';

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };
const apps: INestApplication[] = [];

async function boot(redis: RedisModuleOptions & { name?: string }, metrics?: RedisMetricsModuleOptions): Promise<INestApplication> {
  const imports = [RedisModule.forRoot(redis), ...(metrics ? [RedisMetricsModule.forRoot(metrics)] : [])];
  const moduleRef = await Test.createTestingModule({ imports }).setLogger(silent).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    // A failed start still opened the Redis connection.
    await app.close();
    throw error;
  }
  apps.push(app);
  return app;
}


describe('RedisMetricsModule', () => {
  let server: RedisProcess;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves engine mode and connection status in Prometheus text format', async () => {
    const app = await boot({ url: server.url }, {});
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_engine_mode{connection="default",mode="redis"}')).toBe(1);
    expect(sample(text, 'redis_kit_engine_mode{connection="default",mode="memory"}')).toBe(0);
    expect(sample(text, 'redis_kit_connection_status{connection="default",status="connected"}')).toBe(1);
    expect(sample(text, 'redis_kit_connection_status{connection="default",status="memory-fallback"}')).toBe(0);
    expect(sample(text, 'redis_kit_fallback_transitions_total{connection="default",to="memory"}')).toBe(0);
    expect(sample(text, 'redis_kit_fallback_journal_size{connection="default"}')).toBe(0);
    expect(text).toContain('# TYPE redis_kit_command_duration_seconds histogram');
  });

  it('times every Redis command into the latency histogram', async () => {
    const app = await boot({ url: server.url, keyPrefix: 'm:' }, {});
    const engine = app.get(RedisConnection).engine;
    // The active-sessions gauge reads the store at scrape time; a fixed source keeps this count exact.
    app.get(RedisMetrics).observeActiveSessions(() => 0);
    const count = async () => sample(await scrape(app), 'redis_kit_command_duration_seconds_count{connection="default",outcome="ok"}') ?? 0;
    // A scrape itself reads the store (the active-sessions gauge): measure what one scrape adds.
    const first = await count();
    const before = await count();
    const perScrape = before - first;
    for (let i = 0; i < 5; i++) await engine.set(`k${i}`, 'v');
    await engine.get('k0');
    await expect(engine.hget('k0', 'field')).rejects.toThrow(/WRONGTYPE/);
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_command_duration_seconds_count{connection="default",outcome="ok"}')).toBe(before + perScrape + 6);
    expect(sample(text, 'redis_kit_command_duration_seconds_count{connection="default",outcome="error"}')).toBe(1);
    expect(sample(text, 'redis_kit_command_duration_seconds_bucket{le="+Inf",connection="default",outcome="ok"}')).toBe(before + perScrape + 6);
  });

  it('counts what capabilities report through RedisMetrics, by namespace and policy', async () => {
    const app = await boot({ url: server.url }, {});
    const metrics = app.get(RedisMetrics);
    expect(metrics.enabled).toBe(true);
    metrics.cacheHit('users');
    metrics.cacheHit('users');
    metrics.cacheHit('trips');
    metrics.cacheMiss('users');
    metrics.cacheStale('users');
    metrics.cacheLoad('users');
    metrics.rateLimitAllowed('login');
    metrics.rateLimitAllowed('login');
    metrics.rateLimitRefused('login');
    metrics.refreshTokenReused();
    metrics.observeActiveSessions(async () => 7);
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_cache_hits_total{namespace="users"}')).toBe(2);
    expect(sample(text, 'redis_kit_cache_hits_total{namespace="trips"}')).toBe(1);
    expect(sample(text, 'redis_kit_cache_misses_total{namespace="users"}')).toBe(1);
    expect(sample(text, 'redis_kit_cache_stale_total{namespace="users"}')).toBe(1);
    expect(sample(text, 'redis_kit_cache_loads_total{namespace="users"}')).toBe(1);
    expect(sample(text, 'redis_kit_rate_limit_decisions_total{policy="login",outcome="allowed"}')).toBe(2);
    expect(sample(text, 'redis_kit_rate_limit_decisions_total{policy="login",outcome="refused"}')).toBe(1);
    expect(sample(text, 'redis_kit_refresh_token_reuse_total')).toBe(1);
    expect(sample(text, 'redis_kit_sessions_active{connection="default"}')).toBe(7);
  });

  it('leaves the active-session gauge out when its source fails, and the scrape still succeeds', async () => {
    const app = await boot({ url: server.url }, {});
    app.get(RedisMetrics).observeActiveSessions(() => {
      throw new Error('store unavailable');
    });
    const text = await scrape(app);
    expect(text).toContain('# TYPE redis_kit_sessions_active gauge');
    expect(sample(text, 'redis_kit_sessions_active{connection="default"}')).toBeUndefined();
  });

  it('shows the switch to the memory fallback and back', async () => {
    const app = await boot({ url: server.url, commandTimeoutMs: 200 }, {});
    const connection = app.get(RedisConnection);
    await server.kill();
    try {
      await waitUntil(() => connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'memory-fallback status' });
      const during = await scrape(app);
      expect(sample(during, 'redis_kit_engine_mode{connection="default",mode="memory"}')).toBe(1);
      expect(sample(during, 'redis_kit_connection_status{connection="default",status="memory-fallback"}')).toBe(1);
      expect(sample(during, 'redis_kit_fallback_transitions_total{connection="default",to="memory"}')).toBe(1);
      expect(sample(during, 'redis_kit_fallback_transitions_total{connection="default",to="redis"}')).toBe(0);
    } finally {
      await server.start();
    }
    await waitUntil(() => connection.status() === 'connected', { timeoutMs: 15_000, what: 'connected status after restart' });
    const after = await scrape(app);
    expect(sample(after, 'redis_kit_engine_mode{connection="default",mode="redis"}')).toBe(1);
    expect(sample(after, 'redis_kit_fallback_transitions_total{connection="default",to="memory"}')).toBe(1);
    expect(sample(after, 'redis_kit_fallback_transitions_total{connection="default",to="redis"}')).toBe(1);
  });

  it('counts a switch that happened before the exporter started (Redis down at boot)', async () => {
    const dead = await startRedis();
    const url = dead.url;
    await dead.destroy();
    const app = await boot({ url, connectTimeoutMs: 200 }, {});
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_engine_mode{connection="default",mode="memory"}')).toBe(1);
    expect(sample(text, 'redis_kit_fallback_transitions_total{connection="default",to="memory"}')).toBe(1);
  });

  it('costs nothing when not imported: no route, no timing hook, capability calls are no-ops', async () => {
    const app = await boot({ url: server.url });
    await request(app.getHttpServer()).get('/metrics').expect(404);
    const metrics = app.get(RedisMetrics);
    expect(metrics.enabled).toBe(false);
    expect(() => metrics.cacheHit('users')).not.toThrow();
    const engine = app.get(RedisConnection).engine;
    expect(engine).toBeInstanceOf(FallbackEngine);
    expect((engine as FallbackEngine).onCommand).toBeUndefined();
  });

  it('detaches on shutdown: the hook is removed and capability calls become no-ops again', async () => {
    const app = await boot({ url: server.url }, {});
    const engine = app.get(RedisConnection).engine as FallbackEngine;
    const metrics = app.get(RedisMetrics);
    expect(engine.onCommand).toBeInstanceOf(Function);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect(engine.onCommand).toBeUndefined();
    expect(metrics.enabled).toBe(false);
  });

  it('mounts on a custom path, or on none', async () => {
    const custom = await boot({ url: server.url }, { path: '/internal/prom' });
    await request(custom.getHttpServer()).get('/metrics').expect(404);
    expect(sample(await scrape(custom, '/internal/prom'), 'redis_kit_engine_mode{connection="default",mode="redis"}')).toBe(1);

    const none = await boot({ url: server.url }, { path: false });
    await request(none.getHttpServer()).get('/metrics').expect(404);
    expect(await none.get(RedisMetricsExporter).metrics()).toContain('redis_kit_engine_mode{connection="default",mode="redis"} 1');
  });

  it('registers into a shared registry and removes its metrics on shutdown, so the app can start again', async () => {
    const registry = new Registry();
    const first = await boot({ url: server.url }, { registry, prefix: 'shared_' });
    expect(await registry.metrics()).toContain('shared_engine_mode{connection="default",mode="redis"} 1');
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    expect(await registry.metrics()).not.toContain('shared_engine_mode');
    await boot({ url: server.url }, { registry, prefix: 'shared_' });
    expect(await registry.metrics()).toContain('shared_engine_mode{connection="default",mode="redis"} 1');
  });

  it('reports on named connections, and names a missing one at start-up', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ url: server.url }), RedisModule.forRoot({ url: server.url, name: 'sessions' }), RedisMetricsModule.forRoot({ connections: ['default', 'sessions'] })],
    })
      .setLogger(silent)
      .compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    apps.push(app);
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_engine_mode{connection="sessions",mode="redis"}')).toBe(1);
    expect(sample(text, 'redis_kit_engine_mode{connection="default",mode="redis"}')).toBe(1);

    await expect(boot({ url: server.url }, { connections: ['cache'] })).rejects.toThrow(`RedisMetricsModule: no Redis connection named "cache" (import RedisModule.forRoot({ name: 'cache' }) in the application)`);
    expect(() => RedisMetricsModule.forRoot({ path: '' })).toThrow(/path must be a non-empty route or false/);
  });
});
