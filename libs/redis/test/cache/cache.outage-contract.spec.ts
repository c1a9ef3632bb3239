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
