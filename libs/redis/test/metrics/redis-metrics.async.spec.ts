import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { RedisModule } from 'nestjs-redis-kit';
import { RedisMetricsExporter, RedisMetricsModule } from 'nestjs-redis-kit/metrics';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

@Injectable()
class MetricsSettings {
  readonly prefix = 'shop_redis_';
}

@Module({ providers: [MetricsSettings], exports: [MetricsSettings] })
class SettingsModule {}

describe('RedisMetricsModule.forRootAsync', () => {
  let server: RedisProcess;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await server?.destroy();
  });

  async function boot(metrics: ReturnType<typeof RedisMetricsModule.forRootAsync>): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot({ url: server.url }), metrics] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    await app.init();
    return app;
  }

  it('takes its options from an injected provider and serves them on the given path', async () => {
    const app = await boot(
      RedisMetricsModule.forRootAsync({ imports: [SettingsModule], inject: [MetricsSettings], path: '/internal/metrics', useFactory: (s: MetricsSettings) => ({ prefix: s.prefix }) }),
    );
    const response = await request(app.getHttpServer()).get('/internal/metrics').expect(200);
    expect(response.text).toMatch(/^shop_redis_engine_mode\{connection="default",mode="redis"\} 1$/m);
    await request(app.getHttpServer()).get('/metrics').expect(404);
    expect(await app.get(RedisMetricsExporter).metrics()).toContain('shop_redis_');
  });

  it('an async factory works, path false mounts no route, and bad options stop start-up with a clear message', async () => {
    const app = await boot(RedisMetricsModule.forRootAsync({ path: false, useFactory: async () => ({ prefix: 'late_' }) }));
    await request(app.getHttpServer()).get('/metrics').expect(404);
    expect(await app.get(RedisMetricsExporter).metrics()).toMatch(/^late_connection_status/m);

    await expect(boot(RedisMetricsModule.forRootAsync({ useFactory: () => ({ connections: [] }) }))).rejects.toThrow(/connections must list at least one connection name/);
    expect(() => RedisMetricsModule.forRootAsync({ path: '', useFactory: () => ({}) })).toThrow(/path must be a non-empty route or false/);
  });
});
