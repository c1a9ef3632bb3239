import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { CapturingLogger, startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisHealthModule } from '../../src/health/redis-health.module.js';
import { RedisHealthIndicator } from '../../src/health/redis.health.js';
import { RedisConfigError } from '../../src/redis.errors.js';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { SessionService } from '../../src/session/session.service.js';

let logger: CapturingLogger;
const opened: TestingModule[] = [];
const evictionLines = () => logger.lines.filter((line) => line.includes('can evict them'));

async function boot(...connections: Array<RedisModuleOptions & { name?: string; isGlobal?: boolean }>): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({ imports: [...connections.map((o) => RedisModule.forRoot(o)), RedisHealthModule] })
    .setLogger(logger)
    .compile();
  opened.push(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

describe('eviction-policy check for sessions and the deny-list', () => {
  let lru: RedisProcess;
  let volatile: RedisProcess;
  let noeviction: RedisProcess;

  beforeAll(async () => {
    [lru, volatile, noeviction] = await Promise.all([
      startRedis({ extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] }),
      startRedis({ extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'volatile-lru'] }),
      startRedis({ extraArgs: ['--maxmemory', '64mb', '--maxmemory-policy', 'noeviction'] }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([lru?.stop(), volatile?.stop(), noeviction?.stop()]);
  });
  beforeEach(() => {
    logger = new CapturingLogger();
    Logger.overrideLogger(logger);
  });
  afterEach(async () => {
    for (const moduleRef of opened.splice(0)) await moduleRef.close();
    Logger.overrideLogger(false);
  });

  it('warns once at start-up and reports evictionRisk in every health probe when sessions share an allkeys-lru Redis', async () => {
    const app = await boot({ url: lru.url });
    expect(evictionLines()).toHaveLength(1);
    expect(evictionLines()[0]).toMatch(/^warn sessions and the deny-list live on connection "default", whose maxmemory-policy allkeys-lru can evict them/);
    const indicator = app.get(RedisHealthIndicator);
    for (let i = 0; i < 3; i++) {
      const health = await indicator.isHealthy();
      expect(health.redis).toMatchObject({ status: 'up', maxMemoryPolicy: 'allkeys-lru', evictionRisk: expect.stringContaining('allkeys-lru can evict them') });
    }
    expect(evictionLines()).toHaveLength(1);
  });

  it('counts volatile-* as evicting too (every session has a TTL)', async () => {
    const app = await boot({ url: volatile.url });
    expect(evictionLines()).toHaveLength(1);
    expect((await app.get(RedisHealthIndicator).isHealthy()).redis).toMatchObject({ maxMemoryPolicy: 'volatile-lru', evictionRisk: expect.any(String) });
  });

  it("with session.evictionCheck 'refuse', start-up stops with one clear message", async () => {
    const error = await boot({ url: lru.url, session: { evictionCheck: 'refuse' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisConfigError);
    expect((error as Error).message).toContain("session.evictionCheck is 'refuse' and sessions and the deny-list live on connection \"default\", whose maxmemory-policy allkeys-lru can evict them");
  });

  it("'off' checks nothing; a bad value is a configuration error", async () => {
    const app = await boot({ url: lru.url, session: { evictionCheck: 'off' } });
    expect(evictionLines()).toHaveLength(0);
    expect((await app.get(RedisHealthIndicator).isHealthy()).redis).toMatchObject({ maxMemoryPolicy: 'allkeys-lru' });
    expect((await app.get(RedisHealthIndicator).isHealthy()).redis).not.toHaveProperty('evictionRisk');
    await expect(boot({ url: lru.url, session: { evictionCheck: 'maybe' as never } })).rejects.toThrow(/session.evictionCheck must be 'warn', 'refuse' or 'off'/);
  });

  it('two connections: cache on allkeys-lru, sessions on noeviction (session.connection) pass the check, and the data lands where it should', async () => {
    const app = await boot({ url: lru.url, keyPrefix: 'two:', session: { connection: 'sessions', evictionCheck: 'refuse' } }, { name: 'sessions', isGlobal: true, url: noeviction.url, keyPrefix: 'two:' });
    expect(evictionLines()).toHaveLength(0);
    const { sessionId } = await app.get(SessionService).create({ userId: 'u1' });
    expect(await app.get(SessionService).validate(sessionId)).toMatchObject({ userId: 'u1' });
    await app.get(CacheService).set('k', 1);
    const sessionKeys = (await noeviction.command('KEYS', 'two:*')) as string[];
    const cacheKeys = (await lru.command('KEYS', 'two:*')) as string[];
    expect(sessionKeys.some((k) => k.startsWith('two:sess:'))).toBe(true);
    expect(cacheKeys.some((k) => k.startsWith('two:sess:'))).toBe(false);
    expect(cacheKeys.length).toBeGreaterThan(0);
    const indicator = app.get(RedisHealthIndicator);
    expect((await indicator.isHealthy('sessions', { connection: 'sessions' })).sessions).toMatchObject({ status: 'up', maxMemoryPolicy: 'noeviction' });
    expect((await indicator.isHealthy('sessions', { connection: 'sessions' })).sessions).not.toHaveProperty('evictionRisk');
    // The cache connection may evict: nothing that must survive lives there, so no risk is reported.
    expect((await indicator.isHealthy()).redis).not.toHaveProperty('evictionRisk');
  });

  it('a policy changed at run time is caught by the next health probe, with one warning', async () => {
    const app = await boot({ url: noeviction.url });
    expect(evictionLines()).toHaveLength(0);
    const indicator = app.get(RedisHealthIndicator);
    try {
      await noeviction.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu');
      expect((await indicator.isHealthy()).redis).toMatchObject({ maxMemoryPolicy: 'allkeys-lfu', evictionRisk: expect.any(String) });
      await indicator.isHealthy();
      expect(evictionLines()).toHaveLength(1);
    } finally {
      await noeviction.command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    }
    expect((await indicator.isHealthy()).redis).not.toHaveProperty('evictionRisk');
  });
});
