import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { AppModule as DemoModule } from '../../apps/demo/src/app.module.js';
import { AppModule as GatewayModule } from '../../apps/gateway/src/app.module.js';
import { bootApp, clearAppEnv, snapshotEnv } from './e2e.fixture.js';

describe('demo and gateway without Redis configured', () => {
  const restoreEnv = snapshotEnv();
  let demo: INestApplication | undefined;
  let gateway: INestApplication | undefined;

  beforeAll(async () => {
    clearAppEnv();
    demo = await bootApp(DemoModule);
    gateway = await bootApp(GatewayModule);
  });

  afterAll(async () => {
    await gateway?.close();
    await demo?.close();
    restoreEnv();
  });

  it('demo reports the embedded store', async () => {
    const response = await request(demo!.getHttpServer()).get('/').expect(200);
    expect(response.body).toEqual({ service: 'demo', redis: 'memory-fallback' });
  });

  it('demo counts visits in memory', async () => {
    expect((await request(demo!.getHttpServer()).get('/visits').expect(200)).body).toEqual({ visits: 1 });
    expect((await request(demo!.getHttpServer()).get('/visits').expect(200)).body).toEqual({ visits: 2 });
  });

  it('gateway reports the embedded store and the default upstream', async () => {
    const response = await request(gateway!.getHttpServer()).get('/').expect(200);
    expect(response.body).toEqual({ service: 'gateway', redis: 'memory-fallback', upstream: 'http://127.0.0.1:3000' });
  });
});
