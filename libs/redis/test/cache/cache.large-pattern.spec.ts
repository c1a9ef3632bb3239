import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

const KEYS = 100_000;
// Redis' own per-command timing, read from SLOWLOG: a command over 10 ms blocks every other client.
const SLOW_US = 10_000;

describe('invalidatePattern over 100k matching keys', () => {
  let server: RedisProcess;
  let connection: RedisConnection;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    connection = new RedisConnection(resolveRedisOptions({ url: server.url, keyPrefix: 'big:', commandTimeoutMs: 5_000 }));
    await connection.onModuleInit();
  });
  afterAll(async () => {
    await connection?.onApplicationShutdown();
    admin?.disconnect();
    await server?.stop();
  });

  it('removes every match in batches, and no single Redis command runs long enough to block others', async () => {
    const cache = CacheService.create(connection).namespace('catalog');
    for (let start = 0; start < KEYS; start += 5_000) {
      await cache.mset(Array.from({ length: 5_000 }, (_, i) => ({ key: `item:${start + i}`, value: { n: start + i } })));
    }
    await cache.set('other:1', 'must survive');
    expect(await admin.dbsize()).toBe(KEYS + 1);

    await admin.config('SET', 'slowlog-log-slower-than', String(SLOW_US));
    await admin.slowlog('RESET');
    const removed = await cache.invalidatePattern('item:*');
    const slow = (await admin.slowlog('GET', 128)) as unknown[][];

    expect(removed).toBe(KEYS);
    expect(await admin.dbsize()).toBe(1);
    expect(await cache.get('other:1')).toBe('must survive');
    // A KEYS call or one giant DEL/UNLINK of 100k keys would show up here.
    expect(slow.map((entry) => String((entry[3] as string[])[0]))).toEqual([]);
  });
});
