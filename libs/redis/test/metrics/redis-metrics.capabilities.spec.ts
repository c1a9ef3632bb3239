import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, UseGuards, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RateLimit } from '../../src/rate-limit/rate-limit.decorator.js';
import { RateLimitGuard } from '../../src/rate-limit/rate-limit.guard.js';
import { RedisModule } from '../../src/redis.module.js';
import { SessionService } from '../../src/session/session.service.js';
import { RedisMetricsModule } from '../../src/metrics/redis-metrics.module.js';

@Controller('limited')
@UseGuards(RateLimitGuard)
class LimitedController {
  @Get()
  @RateLimit({ limit: 1, window: '1m', name: 'one-per-minute', by: 'ip' })
  hit() {
    return { ok: true };
  }
}

const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('capabilities report into the metrics module', () => {
  let server: RedisProcess;
  let app: INestApplication;

  beforeAll(async () => {
    server = await startRedis();
    const moduleRef = await Test.createTestingModule({
      // No refresh grace: the second presentation below is reuse at once, not a retried refresh.
      imports: [RedisModule.forRoot({ url: server.url, session: { refreshGrace: 0 } }), RedisMetricsModule.forRoot({})],
      controllers: [LimitedController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it('counts rate-limit decisions, refresh-token reuse and active sessions', async () => {
    await request(app.getHttpServer()).get('/limited').expect(200);
    await request(app.getHttpServer()).get('/limited').expect(429);

    const sessions = app.get(SessionService);
    const first = await sessions.create({ userId: 'metrics-user' });
    await sessions.create({ userId: 'metrics-user' });
    await sessions.refresh(first.refreshToken);
    // Presenting the retired token again is reuse: the family is revoked and the metric counts it.
    await sessions.refresh(first.refreshToken);

    const text = (await request(app.getHttpServer()).get('/metrics').expect(200)).text;
    expect(sample(text, 'redis_kit_rate_limit_decisions_total{policy="one-per-minute",outcome="allowed"}')).toBe(1);
    expect(sample(text, 'redis_kit_rate_limit_decisions_total{policy="one-per-minute",outcome="refused"}')).toBe(1);
    expect(sample(text, 'redis_kit_refresh_token_reuse_total')).toBe(1);
    // Two sessions were created; the reused family (one session) was revoked.
    expect(sample(text, 'redis_kit_sessions_active{connection="default"}')).toBe(1);
  });
});
