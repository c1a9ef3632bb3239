import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import 'reflect-metadata';
import { Controller, Get, Module, UseGuards, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RateLimit, RateLimitConfigError, RateLimitGuard, RateLimiter, RedisModule, type RateLimitOptions, type RedisModuleOptions } from 'nestjs-redis-kit';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

@Controller()
@UseGuards(RateLimitGuard)
class MessagesController {
  @Get('default')
  @RateLimit({ limit: 1, window: '1m', name: 'default', by: 'ip' })
  plain() {
    return { ok: true };
  }

  @Get('own')
  @RateLimit({ limit: 1, window: '1m', name: 'own', by: 'ip', message: 'Too fast for {policy}: {limit} per {window} s, retry in {retryAfter} s' })
  own() {
    return { ok: true };
  }
}

/** Blocks this process's event loop, as a burst of CPU work does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* busy */
  }
}

describe('RateLimiter (Redis standalone)', () => {
  let server: RedisProcess;
  const apps: INestApplication[] = [];

  async function start(options: Partial<RedisModuleOptions> = {}, controllers: Type[] = []): Promise<{ app: INestApplication; limiter: RateLimiter; base: string }> {
    @Module({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix: `rl-svc-${apps.length}:`, ...options })], controllers })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    apps.push(app);
    return { app, limiter: app.get(RateLimiter), base: `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}` };
  }

  beforeAll(async () => {
    server = await startRedis();
  }, 60_000);
  afterEach(() => server.resume());
  afterAll(async () => {
    for (const app of apps) await app.close();
    await server?.stop();
  });

  it('consume(subject, policies, cost): charges all policies of a subject or none, from Redis, with the retry time', async () => {
    const { limiter } = await start();
    const policies: RateLimitOptions[] = [
      { limit: 5, window: '1m', name: 'jobs-minute' },
      { limit: 3, window: '1h', name: 'jobs-hour' },
    ];
    const first = await limiter.consume('tenant:42', policies, 2);
    expect(first).toMatchObject({ allowed: true, status: 200, sources: ['redis'], retryAfter: 0 });
    expect(first.outcomes.map((o) => [o.name, o.remaining])).toEqual([
      ['jobs-minute', 3],
      ['jobs-hour', 1],
    ]);
    // 2 more would exceed the hourly budget (1 left): refused, and neither policy is charged.
    const refused = await limiter.consume('tenant:42', policies, 2);
    expect(refused).toMatchObject({ allowed: false, status: 429 });
    expect(refused.refusedBy?.name).toBe('jobs-hour');
    expect(refused.retryAfter).toBeGreaterThan(0);
    expect((await limiter.consume('tenant:42', policies, 1)).allowed).toBe(true);
    // Another subject has its own budget; a single policy object works too.
    expect((await limiter.consume('tenant:43', policies[1]!, 3)).allowed).toBe(true);
  });

  it('consume: a cost larger than the limit is a configuration error, not a refusal', async () => {
    const { limiter } = await start();
    await expect(limiter.consume('s', { limit: 3, window: '1m', name: 'small' }, 4)).rejects.toThrow(RateLimitConfigError);
  });

  it('a reply that arrives while the event loop is stalled past the ceiling still decides (no local fallback)', async () => {
    const { limiter } = await start({ rateLimit: { decisionTimeoutMs: 200 } });
    const policy: RateLimitOptions = { limit: 2, window: '1m', name: 'stalled' };
    const pending = [1, 2, 3].map(() => limiter.consume('stall-subject', policy));
    // The replies arrive during the stall; a wall-clock ceiling of 200 ms would have expired twice
    // over. (The engine's wall-clock backstop, 3 x the ceiling, is not reached.)
    stall(450);
    const decisions = await Promise.all(pending);
    expect(decisions.map((d) => d.sources)).toEqual([['redis'], ['redis'], ['redis']]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, false]);
  });

  it('a Redis that stopped answering (SIGSTOP): every decision settles, from the local limiter, within the ceiling', async () => {
    const { limiter } = await start({ rateLimit: { decisionTimeoutMs: 500 } });
    const policy: RateLimitOptions = { limit: 2, window: '1m', name: 'paused' };
    expect((await limiter.consume('paused-subject', policy)).sources).toEqual(['redis']);
    server.pause();
    const t0 = performance.now();
    const decisions = await Promise.all([1, 2, 3].map(() => limiter.consume('paused-subject', policy)));
    // Generous liveness bound: the ceiling is 500 ms of loop time.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(decisions.map((d) => d.sources)).toEqual([['local'], ['local'], ['local']]);
    // The local limiter has its own budget of 2 on this instance.
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, false]);
    server.resume();
  }, 30_000);

  it('a dropped connection that comes straight back (CLIENT KILL) does not hand a burst to the local limiter', async () => {
    const { limiter } = await start();
    const policy: RateLimitOptions = { limit: 20, window: '1m', name: 'killed' };
    expect((await limiter.consume('kill-subject', policy)).sources).toEqual(['redis']);
    await server.command('CLIENT', 'KILL', 'TYPE', 'normal');
    const decisions = await Promise.all(Array.from({ length: 60 }, () => limiter.consume('kill-subject', policy)));
    // Exactly the rest of the Redis budget; the local limiter would have admitted 20 more.
    expect(decisions.filter((d) => d.allowed)).toHaveLength(19);
    expect(decisions.flatMap((d) => d.sources).filter((s) => s === 'local')).toEqual([]);
  });

  it('the 429 body: default message, a policy message template, rateLimit.message as a function returning the body', async () => {
    const hit = async (base: string, path: string) => {
      const res = await fetch(`${base}/${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const plain = await start({}, [MessagesController]);
    await hit(plain.base, 'default');
    const refused = await hit(plain.base, 'default');
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests', policy: 'default' });
    expect(refused.body.message).toMatch(/^Rate limit "default" exceeded; retry in \d+ s$/);
    await hit(plain.base, 'own');
    expect((await hit(plain.base, 'own')).body.message).toMatch(/^Too fast for own: 1 per 60 s, retry in \d+ s$/);

    const custom = await start({ rateLimit: { message: (r) => ({ error: 'slow_down', detail: `${r.policy} allows ${r.limit}`, retry_in: r.retryAfter }) } }, [MessagesController]);
    await hit(custom.base, 'default');
    const body = (await hit(custom.base, 'default')).body;
    expect(body).toEqual({ error: 'slow_down', detail: 'default allows 1', retry_in: expect.any(Number) });
    // A policy's own message wins over the module's.
    await hit(custom.base, 'own');
    expect((await hit(custom.base, 'own')).body.message).toMatch(/^Too fast for own/);

    const text = await start({ rateLimit: { message: 'Easy, {retryAfter} s' } }, [MessagesController]);
    await hit(text.base, 'default');
    expect((await hit(text.base, 'default')).body).toMatchObject({ statusCode: 429, message: expect.stringMatching(/^Easy, \d+ s$/), policy: 'default' });
  });
});
