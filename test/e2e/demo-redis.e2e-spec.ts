import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';
import { AppModule as DemoModule } from '../../apps/demo/src/app.module.js';
import { AppModule as GatewayModule } from '../../apps/gateway/src/app.module.js';
import { VISITS_KEY } from '../../apps/demo/src/visits.controller.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { bootApp, clearAppEnv, snapshotEnv } from './e2e.fixture.js';

describe('demo and gateway on a real Redis (REDIS_URL)', () => {
  const restoreEnv = snapshotEnv();
  let redis: RedisProcess | undefined;
  let inspector: Redis | undefined;
  let demo: INestApplication | undefined;
  let gateway: INestApplication | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    clearAppEnv();
    process.env.REDIS_URL = redis.url;
    process.env.DEMO_URL = 'http://127.0.0.1:4100/';
    demo = await bootApp(DemoModule);
    gateway = await bootApp(GatewayModule);
    inspector = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await inspector.connect();
  });

  afterAll(async () => {
    await gateway?.close();
    await demo?.close();
    await inspector?.quit();
    await redis?.stop();
    restoreEnv();
  });

  it('demo reports a live connection', async () => {
    const response = await request(demo!.getHttpServer()).get('/').expect(200);
    expect(response.body).toEqual({ service: 'demo', redis: 'connected' });
  });

  it('demo stores the visits counter in Redis, under the unprefixed key', async () => {
    expect((await request(demo!.getHttpServer()).get('/visits').expect(200)).body).toEqual({ visits: 1 });
    expect(await inspector!.get(VISITS_KEY)).toBe('1');
    expect((await request(demo!.getHttpServer()).get('/visits').expect(200)).body).toEqual({ visits: 2 });
    expect(await inspector!.get(VISITS_KEY)).toBe('2');
  });

  it('demo picks up a counter another instance wrote', async () => {
    await inspector!.set(VISITS_KEY, '41');
    expect((await request(demo!.getHttpServer()).get('/visits').expect(200)).body).toEqual({ visits: 42 });
  });

  it('gateway shares the connection settings and reports DEMO_URL', async () => {
    const response = await request(gateway!.getHttpServer()).get('/').expect(200);
    expect(response.body).toEqual({ service: 'gateway', redis: 'connected', upstream: 'http://127.0.0.1:4100' });
  });
});
