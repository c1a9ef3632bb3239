import { afterAll, describe, expect, it } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { RedisModule, type RedisModuleOptions } from 'nestjs-redis-kit';
import { RedisHealthIndicator, RedisHealthModule } from 'nestjs-redis-kit/health';
import { startRedis, waitUntil } from '@nestjs-redis-kit/test-support';

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };
const opened: TestingModule[] = [];

async function indicator(redis: RedisModuleOptions, health: unknown): Promise<RedisHealthIndicator> {
  const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot(redis), health as never] })
    .setLogger(silent)
    .compile();
  await moduleRef.init();
  opened.push(moduleRef);
  return moduleRef.get(RedisHealthIndicator);
}

describe("RedisHealthModule.forRoot({ embedded: 'up' }): embedded by design", () => {
  afterAll(async () => {
    for (const moduleRef of opened) await moduleRef.close();
  });

  it("reports the embedded store up, saying it is by design; without the option it stays degraded", async () => {
    const byDesign = await indicator({}, RedisHealthModule.forRoot({ embedded: 'up' }));
    expect((await byDesign.isHealthy()).redis).toEqual({ status: 'up', mode: 'embedded', engine: 'memory', message: 'no Redis configured: the in-memory store is used by design' });
    expect((await byDesign.isHealthy('redis', { embedded: 'degraded' })).redis.status).toBe('degraded');

    const plain = await indicator({}, RedisHealthModule);
    expect((await plain.isHealthy()).redis.status).toBe('degraded');
    expect((await plain.isHealthy('redis', { embedded: 'up' })).redis.status).toBe('up');
  });

  it('an outage fallback is still degraded with the option', async () => {
    const server = await startRedis();
    try {
      const health = await indicator({ url: server.url, commandTimeoutMs: 300 }, RedisHealthModule.forRoot({ embedded: 'up' }));
      expect((await health.isHealthy()).redis.status).toBe('up');
      await server.kill();
      const result = await waitUntil(async () => {
        const r = (await health.isHealthy()).redis;
        return r.status === 'degraded' ? r : undefined;
      }, { timeoutMs: 20_000, what: 'the indicator to report degraded' });
      expect(result).toMatchObject({ status: 'degraded', engine: 'memory' });
    } finally {
      await server.destroy();
    }
  });

  it('refuses another value', () => {
    expect(() => RedisHealthModule.forRoot({ embedded: 'ok' as never })).toThrow(/embedded must be 'up' or 'degraded'/);
  });
});
