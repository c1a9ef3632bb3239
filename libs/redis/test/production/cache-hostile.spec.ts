import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisModule } from '../../src/redis.module.js';

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

describe('hostile values under cache keys', () => {
  let server: RedisProcess;
  let moduleRef: TestingModule;
  beforeAll(async () => {
    server = await startRedis();
    moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'h:', cache: { maxValueBytes: 64 * 1024 } })] })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
  });
  afterAll(async () => {
    await moduleRef?.close();
    await server?.stop();
  });

  it('a deflate bomb (a 16 MiB JSON string in ~16 KiB) is not inflated past maxValueBytes: a counted miss, deleted', async () => {
    const bomb = deflateRawSync(Buffer.concat([Buffer.from('"'), Buffer.alloc(16 * 1024 * 1024, 0x61), Buffer.from('"')])).toString('base64');
    await server.command('SET', 'h:cache::bomb', `~c1|jz|||${bomb}`);
    const cache = moduleRef.get(CacheService);
    await expect(cache.get('bomb')).resolves.toBeUndefined();
    expect(cache.stats().corrupt).toBe(1);
    expect(await server.command('EXISTS', 'h:cache::bomb')).toBe(1 - 1);
    // A compressed value the cache wrote itself still reads back.
    const big = 'abc'.repeat(10_000);
    await cache.set('fine', big);
    expect(await cache.get('fine')).toBe(big);
  });
});
