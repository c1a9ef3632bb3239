import { afterAll, describe, expect, it } from '@jest/globals';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RedisMetrics } from '../../src/metrics/redis-metrics.js';
import { resolveRedisOptions } from '../../src/redis.options.js';

describe("the cache degrades to its source with fallback: 'none'", () => {
  let server: RedisProcess;
  let connection: RedisConnection;
  afterAll(async () => {
    await connection?.onApplicationShutdown();
    await server?.destroy();
  });

  it('getOrSet calls the loader and returns its value (not stored) while Redis is away, counted as a bypass', async () => {
    server = await startRedis();
    connection = new RedisConnection(resolveRedisOptions({ url: server.url, keyPrefix: 'coc:', fallback: 'none', commandTimeoutMs: 200 }));
    await connection.onModuleInit();
    const metrics = new RedisMetrics();
    const events: string[] = [];
    metrics.attach({ cache: (_ns, event) => events.push(event), rateLimit: () => undefined, refreshTokenReuse: () => undefined });
    const cache = CacheService.create(connection, {}, metrics);
    try {
      expect(await cache.getOrSet('answer', () => 'cached-before')).toBe('cached-before');

      await server.kill();
      await waitUntil(() => connection.engine.mode() === 'unavailable', { timeoutMs: 10_000, what: 'the breaker to open' });
      let loads = 0;
      const loader = async () => {
        loads++;
        return { from: 'the database', n: loads };
      };
      expect(await cache.getOrSet('fresh', loader)).toEqual({ from: 'the database', n: 1 });
      // Not stored anywhere: the next call asks the source again.
      expect(await cache.getOrSet('fresh', loader)).toEqual({ from: 'the database', n: 2 });
      expect(cache.stats()).toMatchObject({ bypasses: 2 });
      expect(events.filter((e) => e === 'bypass')).toHaveLength(2);
    } finally {
      await cache.onApplicationShutdown();
    }
  });
});

/**
 * A `set` made while Redis is away replaces a value on this instance only. Replaying it could
 * overwrite a newer value another instance wrote meanwhile; not replaying it would bring the
 * replaced value back on every instance once Redis returns. Recovery deletes the key instead, so
 * the next read goes to the source.
 */
describe('a value replaced during an outage does not come back after recovery', () => {
  const servers: RedisProcess[] = [];
  const connections: RedisConnection[] = [];
  const caches: CacheService[] = [];
  afterAll(async () => {
    for (const c of caches) await c.onApplicationShutdown();
    for (const c of connections) await c.onApplicationShutdown();
    for (const s of servers) await s.destroy();
  });

  async function cacheOn(url: string, l1: boolean): Promise<{ connection: RedisConnection; cache: CacheService }> {
    const connection = new RedisConnection(resolveRedisOptions({ url, keyPrefix: 'crp:', commandTimeoutMs: 200, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 500 } }));
    connections.push(connection);
    await connection.onModuleInit();
    const cache = CacheService.create(connection, l1 ? { l1: { maxEntries: 100 } } : {});
    caches.push(cache);
    return { connection, cache };
  }

  for (const l1 of [false, true]) {
    it(`set and mset during the outage (L1 ${l1 ? 'on' : 'off'}): no instance reads the replaced value after recovery`, async () => {
      const server = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] });
      servers.push(server);
      const a = await cacheOn(server.url, l1);
      const b = await cacheOn(server.url, l1);
      await b.cache.set('price', 'old');
      await b.cache.mset([{ key: 'stock', value: 'old' }]);
      expect(await a.cache.get('price')).toBe('old');
      expect(await b.cache.get('stock')).toBe('old');

      await server.kill();
      await waitUntil(() => a.connection.engine.mode() === 'fallback', { timeoutMs: 10_000, what: 'A on its fallback' });
      await a.cache.set('price', 'new');
      await a.cache.mset([{ key: 'stock', value: 'new' }]);
      expect(await a.cache.get('price')).toBe('new');

      await server.start();
      await waitUntil(() => a.connection.status() === 'connected' && a.connection.engine.mode() === 'redis' && b.connection.engine.mode() === 'redis', { timeoutMs: 20_000, what: 'both back on Redis' });
      await waitUntil(async () => (await b.cache.get('price')) !== 'old' && (await b.cache.get('stock')) !== 'old', { timeoutMs: 5_000, what: 'B no longer reading the replaced values' });
      for (const c of [a.cache, b.cache]) {
        expect(await c.get('price')).not.toBe('old');
        expect(await c.get('stock')).not.toBe('old');
      }
    }, 60_000);
  }
});
