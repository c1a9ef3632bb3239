import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AppModule as DemoModule } from '../../apps/demo/src/app.module.js';
import { AppModule as GatewayModule } from '../../apps/gateway/src/app.module.js';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { bootApp, clearAppEnv, snapshotEnv } from './e2e.fixture.js';

interface Booted {
  name: string;
  fallback: 'memory' | 'none';
  app: INestApplication;
}

const ready = (b: Booted) => request(b.app.getHttpServer()).get('/health/ready');
const live = (b: Booted) => request(b.app.getHttpServer()).get('/health/live');

describe('health and metrics endpoints of both apps', () => {
  const restoreEnv = snapshotEnv();
  let server: RedisProcess;
  const booted: Booted[] = [];

  beforeAll(async () => {
    server = await startRedis();
    for (const fallback of ['memory', 'none'] as const) {
      clearAppEnv();
      process.env.REDIS_URL = server.url;
      process.env.REDIS_COMMAND_TIMEOUT_MS = '200';
      process.env.REDIS_FALLBACK = fallback;
      const demo = await bootApp(DemoModule);
      booted.push({ name: 'demo', fallback, app: demo });
      // The gateway's readiness includes its upstream: point it at a demo that runs.
      process.env.DEMO_URL = (await demo.getUrl()).replace('[::1]', '127.0.0.1');
      booted.push({ name: 'gateway', fallback, app: await bootApp(GatewayModule) });
    }
  });

  afterAll(async () => {
    for (const b of booted) await b.app.close();
    await server?.stop();
    restoreEnv();
  });

  it('Redis up: /health/ready is 200 "ok" with the Redis details, /health/live is 200 "ok" without Redis', async () => {
    for (const b of booted) {
      const response = await ready(b).expect(200);
      expect(response.body).toMatchObject({ status: 'ok', error: {}, info: { redis: { status: 'up', mode: 'standalone', engine: 'redis', role: 'master' } } });
      expect(response.body.details).toEqual(response.body.info);
      expect(response.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
      expect((await live(b).expect(200)).body).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
    }
  });

  it('/metrics serves the Prometheus exposition of each app', async () => {
    for (const b of booted) {
      const response = await request(b.app.getHttpServer()).get('/metrics').expect(200);
      expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(response.text).toContain('redis_kit_engine_mode{connection="default",mode="redis"} 1');
      expect(response.text).toContain('# TYPE redis_kit_cache_hits_total counter');
      expect(response.text).toContain('# TYPE redis_kit_command_duration_seconds histogram');
    }
  });

  it('Redis killed: degraded (200) with the memory fallback, down (503) without; liveness stays 200; all recover', async () => {
    await server.kill();
    try {
      for (const b of booted.filter((x) => x.fallback === 'memory')) {
        const body = await waitUntil(
          async () => {
            const response = await ready(b);
            return response.body.status === 'degraded' ? response : undefined;
          },
          { timeoutMs: 10_000, what: `${b.name} to report degraded` },
        );
        expect(body.status).toBe(200);
        const degraded = { status: 'degraded', mode: 'standalone', engine: 'memory', message: 'Redis unavailable: serving from the in-memory fallback' };
        expect(body.body).toMatchObject({ status: 'degraded', error: {} });
        expect(body.body.info.redis).toEqual(degraded);
        expect(body.body.details.redis).toEqual(degraded);
        // The gateway's other check, its upstream, is unaffected by Redis.
        if (b.name === 'gateway') expect(body.body.info.upstream.status).toBe('up');
        const metrics = await request(b.app.getHttpServer()).get('/metrics').expect(200);
        expect(metrics.text).toContain('redis_kit_engine_mode{connection="default",mode="memory"} 1');
      }
      for (const b of booted.filter((x) => x.fallback === 'none')) {
        const response = await waitUntil(
          async () => {
            const r = await ready(b);
            return r.status === 503 ? r : undefined;
          },
          { timeoutMs: 10_000, what: `${b.name} (fallback none) to answer 503` },
        );
        expect(response.body).toMatchObject({ status: 'error', info: {}, error: { redis: { status: 'down' } } });
        expect(response.body.details.redis.status).toBe('down');
      }
      for (const b of booted) await live(b).expect(200);
    } finally {
      await server.start();
    }
    for (const b of booted) {
      await waitUntil(async () => (await ready(b)).status === 200 && (await ready(b)).body.status === 'ok', {
        timeoutMs: 15_000,
        what: `${b.name} (fallback ${b.fallback}) ready again`,
      });
    }
  });
});
