import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Param, UseGuards, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { startCluster, startRedis, startSentinelGroup, waitUntil, type RedisClusterHandle, type RedisProcess, type SentinelGroupHandle } from '@nestjs-redis-kit/test-support';
import { Cacheable } from '../../src/cache/cache.interceptor.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RateLimit } from '../../src/rate-limit/rate-limit.decorator.js';
import { RateLimitGuard } from '../../src/rate-limit/rate-limit.guard.js';
import { RedisModule } from '../../src/redis.module.js';
import { sample, scrape } from './metrics.fixture.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { RedisMetricsModule } from '../../src/metrics/redis-metrics.module.js';
import type { RedisMetricsModuleOptions } from '../../src/metrics/redis-metrics.exporter.js';
import { RedisStatusService } from '../../src/metrics/redis-status.service.js';

@Controller('trips')
class TripsController {
  @Get(':id')
  @Cacheable({ ttl: '1m', vary: [] })
  one(@Param('id') id: string) {
    return { id };
  }
}

@Controller()
class ManyRoutesController {
  @Get('a')
  @Cacheable({ ttl: '1m', vary: [] })
  a() {
    return 'a';
  }
  @Get('b')
  @Cacheable({ ttl: '1m', vary: [] })
  b() {
    return 'b';
  }
  @Get('c')
  @Cacheable({ ttl: '1m', vary: [] })
  c() {
    return 'c';
  }
}

@Controller('limited')
@UseGuards(RateLimitGuard)
class LimitedController {
  @Get()
  @RateLimit({ limit: 100, window: '1m', name: 'hundred', by: 'ip', whenUnavailable: 'local' })
  hit() {
    return { ok: true };
  }
}

const apps: INestApplication[] = [];

async function boot(redis: RedisModuleOptions, metrics: RedisMetricsModuleOptions = {}, controllers: Array<new (...args: never[]) => unknown> = []): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot(redis), RedisMetricsModule.forRoot(metrics)], controllers }).compile();
  const app = moduleRef.createNestApplication({ logger: ['warn', 'error'] });
  await app.listen(0, '127.0.0.1');
  apps.push(app);
  return app;
}


describe('metrics read from Redis itself', () => {
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

  it('reports commands, clients, memory against maxmemory, keys per capability, expirations and slow commands', async () => {
    await server.command('FLUSHALL');
    await server.command('CONFIG', 'SET', 'maxmemory', String(64 * 1024 * 1024));
    const app = await boot({ url: server.url, keyPrefix: 'app:' }, { server: { minIntervalMs: 0, keyspaceIntervalMs: 0 } });
    const cache = app.get(CacheService);
    await waitUntil(async () => sample(await scrape(app), 'redis_kit_redis_up{connection="default"}') === 1, { timeoutMs: 10_000, what: 'redis_up 1' });
    const before = await scrape(app);

    for (let i = 0; i < 5; i++) await cache.set(`k${i}`, { i }, { ttl: '1h' });
    await server.command('SET', 'app:sess:x', '1');
    await server.command('SET', 'other-app:thing', '1');
    await server.command('SET', 'short', '1', 'PX', '1');
    await new Promise((r) => setTimeout(r, 20));
    await server.command('GET', 'short'); // expires it now
    await server.command('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
    try {
      for (let i = 0; i < 3; i++) await server.command('SET', `app:slow${i}`, 'x');
    } finally {
      await server.command('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
    }

    const text = await scrape(app);
    expect(sample(text, 'redis_kit_redis_nodes{connection="default"}')).toBe(1);
    expect(sample(text, 'redis_kit_redis_connected_clients{connection="default"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'redis_kit_redis_ops_per_second{connection="default"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'redis_kit_redis_memory_max_bytes{connection="default"}')).toBe(64 * 1024 * 1024);
    expect(sample(text, 'redis_kit_redis_memory_used_bytes{connection="default"}')).toBeGreaterThan(0);
    expect(sample(text, 'redis_kit_redis_memory_ratio{connection="default"}')).toBeGreaterThan(0);
    expect(sample(text, 'redis_kit_redis_memory_ratio{connection="default"}')).toBeLessThan(1);
    expect(sample(text, 'redis_kit_redis_keys{connection="default"}')).toBe(10);
    // A small database is counted exactly; our keys by capability, the others as foreign.
    expect(sample(text, 'redis_kit_redis_keys_estimate{connection="default",prefix="cache"}')).toBe(5);
    expect(sample(text, 'redis_kit_redis_keys_estimate{connection="default",prefix="sess"}')).toBe(1);
    expect(sample(text, 'redis_kit_redis_keys_estimate{connection="default",prefix="foreign"}')).toBe(1);
    expect(sample(text, 'redis_kit_redis_expired_keys_total{connection="default"}')).toBe(1);
    expect(sample(text, 'redis_kit_redis_slow_commands_total{connection="default",command="set"}')).toBeGreaterThanOrEqual(3);
    const processed = (t: string) => sample(t, 'redis_kit_redis_commands_processed_total{connection="default"}') ?? 0;
    expect(processed(text) - processed(before)).toBeGreaterThanOrEqual(10);
    expect(text).toContain('# TYPE redis_kit_redis_commands_processed_total counter');
  });

  it('counts slow commands by SLOWLOG id, also those already rotated out of a short SLOWLOG', async () => {
    const app = await boot({ url: server.url }, { server: { minIntervalMs: 0 } });
    await waitUntil(async () => sample(await scrape(app), 'redis_kit_redis_up{connection="default"}') === 1, { timeoutMs: 10_000, what: 'redis_up 1' });
    const total = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('redis_kit_redis_slow_commands_total{'))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const before = total(await scrape(app));
    await server.command('CONFIG', 'SET', 'slowlog-max-len', '5');
    await server.command('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
    try {
      for (let i = 0; i < 40; i++) await server.command('GET', `rotated${i}`);
    } finally {
      await server.command('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
      await server.command('CONFIG', 'SET', 'slowlog-max-len', '128');
    }
    const after = await scrape(app);
    // 40 GETs plus the CONFIG SET that turned logging off, at least; only 5 were still in the log.
    expect(total(after) - before).toBeGreaterThanOrEqual(41);
    expect(sample(after, 'redis_kit_redis_slow_commands_total{connection="default",command="other"}')).toBeGreaterThanOrEqual(35);
  });

  it('estimates keys per capability from a bounded sample on a large keyspace, and counts evictions', async () => {
    await server.command('FLUSHALL');
    // 3000 rate-limit keys and 1000 cache keys, written in bulk through Lua so the test stays fast.
    await server.command('EVAL', "for i=1,3000 do redis.call('SET','p:rl:'..i,'1') end for i=1,1000 do redis.call('SET','p:cache:x:'..i,'1') end return 1", '0');
    const app = await boot({ url: server.url, keyPrefix: 'p:' }, { server: { minIntervalMs: 0, keyspaceSample: 200 } });
    await waitUntil(async () => sample(await scrape(app), 'redis_kit_redis_up{connection="default"}') === 1, { timeoutMs: 10_000, what: 'redis_up 1' });
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_redis_keys{connection="default"}')).toBe(4000);
    const rl = sample(text, 'redis_kit_redis_keys_estimate{connection="default",prefix="rl"}') ?? 0;
    const cached = sample(text, 'redis_kit_redis_keys_estimate{connection="default",prefix="cache"}') ?? 0;
    // 200 random draws: a generous band around 3000 / 1000.
    expect(rl).toBeGreaterThan(2000);
    expect(cached).toBeGreaterThan(300);
    expect(rl + cached).toBeGreaterThan(3800);
    // The estimate is reused for 30 s, but not across a flush: the figures must not contradict DBSIZE.
    await server.command('FLUSHALL');
    await server.command('SET', 'p:sess:only', '1');
    const flushed = await scrape(app);
    expect(sample(flushed, 'redis_kit_redis_keys_estimate{connection="default",prefix="sess"}')).toBe(1);
    expect(sample(flushed, 'redis_kit_redis_keys_estimate{connection="default",prefix="rl"}')).toBeUndefined();
    await server.command('EVAL', "for i=1,3000 do redis.call('SET','p:rl:'..i,'1') end for i=1,1000 do redis.call('SET','p:cache:x:'..i,'1') end return 1", '0');

    // Evictions: a maxmemory below what is stored, with an evicting policy, then one write.
    await server.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-random');
    await server.command('CONFIG', 'SET', 'maxmemory', '1');
    try {
      await server.command('SET', 'p:cache:trigger', '1').catch(() => undefined);
    } finally {
      await server.command('CONFIG', 'SET', 'maxmemory', '0');
      await server.command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    }
    await waitUntil(async () => (sample(await scrape(app), 'redis_kit_redis_evicted_keys_total{connection="default"}') ?? 0) > 0, { timeoutMs: 10_000, what: 'evicted keys counted' });
    // No maxmemory: the ratio is left out rather than reported as 0.
    expect(sample(await scrape(app), 'redis_kit_redis_memory_ratio{connection="default"}')).toBeUndefined();
  });

  it('labels @Cacheable outcomes by route template, and keeps the label set bounded', async () => {
    const app = await boot({ url: server.url, keyPrefix: `routes${Date.now()}:` }, { maxRoutes: 3 }, [TripsController, ManyRoutesController]);
    const http = request(app.getHttpServer());
    await http.get('/trips/1').expect(200);
    await http.get('/trips/1').expect(200);
    await http.get('/trips/1').expect(200);
    await http.get('/trips/2').expect(200);
    for (const path of ['/a', '/b', '/c']) await http.get(path).expect(200);
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_cache_route_requests_total{route="/trips/:id",outcome="hit"}')).toBe(2);
    expect(sample(text, 'redis_kit_cache_route_requests_total{route="/trips/:id",outcome="miss"}')).toBe(2);
    expect(sample(text, 'redis_kit_cache_route_requests_total{route="/a",outcome="miss"}')).toBe(1);
    expect(sample(text, 'redis_kit_cache_route_requests_total{route="/b",outcome="miss"}')).toBe(1);
    // The fourth distinct route is over maxRoutes: counted, but not as a series of its own.
    expect(sample(text, 'redis_kit_cache_route_requests_total{route="other",outcome="miss"}')).toBe(1);
    expect(text).not.toContain('route="/c"');
    // Never the concrete URL.
    expect(text).not.toContain('route="/trips/1"');
  });

  it('status snapshot: mode, topology, latency and server figures; during an outage memory, transitions and unchecked rate-limit decisions', async () => {
    const app = await boot({ url: server.url, commandTimeoutMs: 200, keyPrefix: `st${Date.now()}:` }, { server: { minIntervalMs: 0 } }, [LimitedController]);
    const status = app.get(RedisStatusService);
    status.minIntervalMs = 0;
    const up = await status.snapshot();
    expect(up.connections).toHaveLength(1);
    expect(up.connections[0]).toMatchObject({ name: 'default', status: 'connected', mode: 'redis', topology: 'standalone', nodes: [`127.0.0.1:${server.port}`] });
    expect(up.connections[0]!.latencyMs).toEqual(expect.any(Number));
    expect(up.connections[0]!.server?.connectedClients).toBeGreaterThanOrEqual(1);

    await request(app.getHttpServer()).get('/limited').expect(200);
    const connection = app.get(RedisConnection);
    await server.kill();
    try {
      await waitUntil(() => connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'memory-fallback' });
      await request(app.getHttpServer()).get('/limited').expect(200);
      const down = await status.snapshot();
      expect(down.connections[0]).toMatchObject({ mode: 'memory', status: 'memory-fallback', latencyMs: null, server: null });
      expect(down.connections[0]!.transitions.map((t) => t.to)).toEqual(['memory']);
      expect(down.metrics.rateLimit.hundred).toEqual({ allowed: 2, refused: 0, unchecked: 1 });
      const text = await scrape(app);
      expect(sample(text, 'redis_kit_redis_up{connection="default"}')).toBe(0);
      expect(sample(text, 'redis_kit_rate_limit_unchecked_total{policy="hundred",when_unavailable="local"}')).toBe(1);
    } finally {
      await server.start();
    }
    await waitUntil(async () => (await status.snapshot()).connections[0]!.mode === 'redis', { timeoutMs: 15_000, what: 'back on redis' });
    expect((await status.snapshot()).connections[0]!.transitions.map((t) => t.to)).toEqual(['memory', 'redis']);
  });
});

describe('metrics read from Redis Cluster', () => {
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  }, 60_000);
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('asks every master and sums what they say; the status names the masters', async () => {
    const app = await boot({ cluster: { nodes: cluster.seeds }, keyPrefix: 'c:' }, { server: { minIntervalMs: 0, keyspaceIntervalMs: 0 } });
    const cache = app.get(CacheService);
    for (let i = 0; i < 30; i++) await cache.set(`k${i}`, i, { ttl: '1h' });
    await waitUntil(async () => sample(await scrape(app), 'redis_kit_redis_up{connection="default"}') === 1, { timeoutMs: 10_000, what: 'redis_up 1' });
    const text = await scrape(app);
    expect(sample(text, 'redis_kit_redis_nodes{connection="default"}')).toBe(3);
    expect(sample(text, 'redis_kit_redis_keys{connection="default"}')).toBe(30);
    expect(sample(text, 'redis_kit_redis_keys_estimate{connection="default",prefix="cache"}')).toBe(30);
    expect(sample(text, 'redis_kit_redis_connected_clients{connection="default"}')).toBeGreaterThanOrEqual(3);
    const snapshot = await app.get(RedisStatusService).snapshot();
    expect(snapshot.connections[0]!.topology).toBe('cluster');
    expect(snapshot.connections[0]!.nodes).toHaveLength(3);
  });
});

describe('status through Redis Sentinel', () => {
  let group: SentinelGroupHandle;

  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 60_000);
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  afterAll(async () => {
    await group?.stop();
  });

  it('names the master the connection talks to, not the sentinels', async () => {
    const app = await boot({ sentinel: { name: group.name, sentinels: group.sentinelAddresses }, connectTimeoutMs: 5_000 }, { server: { minIntervalMs: 0 } });
    const status = app.get(RedisStatusService);
    status.minIntervalMs = 0;
    const snapshot = await status.snapshot();
    expect(snapshot.connections[0]).toMatchObject({ topology: 'sentinel', mode: 'redis', nodes: [`127.0.0.1:${group.master.port}`] });
    expect(snapshot.connections[0]!.server?.nodes).toBe(1);
  });
});
