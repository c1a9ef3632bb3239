import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, Module, UseGuards, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ExpressAdapter } from '@nestjs/platform-express';
import { parseInfo, startCluster, startRedis, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { RateLimit, SkipRateLimit } from '../../src/rate-limit/rate-limit.decorator.js';
import { RateLimitGuard } from '../../src/rate-limit/rate-limit.guard.js';
import { RateLimitConfigError } from '../../src/rate-limit/rate-limit.options.js';

/** Stands in for an auth guard: `x-user` becomes `req.user.id`. Runs before the rate-limit guard. */
@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string>; user?: { id: string } }>();
    const id = req.headers['x-user'];
    if (id) req.user = { id };
    return true;
  }
}

@Controller('rl')
@UseGuards(FakeAuthGuard, RateLimitGuard)
class LimitedController {
  @Get('basic')
  @RateLimit({ limit: 3, window: '1m', name: 'basic' })
  basic() {
    return { ok: true };
  }

  @Get('stacked')
  @RateLimit({ limit: 2, window: '1m', name: 'burst', algorithm: 'fixed-window' })
  @RateLimit({ limit: 10, window: '1h', name: 'sustained' })
  stacked() {
    return { ok: true };
  }

  @Get('skip')
  @SkipRateLimit()
  skip() {
    return { ok: true };
  }

  @Get('user')
  @RateLimit({ limit: 2, window: '1m', name: 'per-user', by: 'user' })
  user() {
    return { ok: true };
  }

  @Get('ip')
  @RateLimit({ limit: 2, window: '1m', name: 'per-ip', by: 'ip' })
  ip() {
    return { ok: true };
  }

  @Get('one')
  @RateLimit({ limit: 1, window: '1m', name: 'one', algorithm: 'token-bucket' })
  one() {
    return { ok: true };
  }

  @Get('custom')
  @RateLimit({ limit: 2, window: '1m', name: 'by-key', by: (ctx) => String(ctx.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-api-key'] ?? 'none') })
  custom() {
    return { ok: true };
  }
}

/** Limited through APP_GUARD only, with no proxy trusted. */
@Controller('open')
class GloballyLimitedController {
  @Get('ip')
  @RateLimit({ limit: 2, window: '1m', name: 'per-ip', by: 'ip' })
  ip() {
    return { ok: true };
  }
}

type Platform = 'express' | 'fastify';

async function boot(platform: Platform, redis: RedisModuleOptions, controllers: unknown[], extraProviders: unknown[] = []): Promise<INestApplication> {
  @Module({ imports: [RedisModule.forRoot(redis)], controllers: controllers as never[], providers: [FakeAuthGuard, ...(extraProviders as never[])] })
  class AppModule {}
  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
  const app = await NestFactory.create(AppModule, adapter as never, { logger: false, abortOnError: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

const urlOf = (app: INestApplication) => {
  const address = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
};

async function hit(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { headers });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, body };
}

describe.each([
  ['express', 'standalone'],
  ['fastify', 'standalone'],
  ['express', 'cluster'],
  ['fastify', 'cluster'],
] as const)('RateLimitGuard over %s, Redis %s', (platform, topology) => {
  let server: RedisProcess | undefined;
  let cluster: RedisClusterHandle | undefined;
  let app: INestApplication;
  let globalApp: INestApplication;
  let base: string;
  let globalBase: string;

  /** EVALSHA + EVAL calls Redis executed, summed over every master. */
  async function scriptCalls(): Promise<number> {
    const nodes = server ? [server] : await cluster!.masters();
    let total = 0;
    for (const node of nodes) {
      const stats = parseInfo(await node.command('INFO', 'commandstats'));
      for (const name of ['cmdstat_evalsha', 'cmdstat_eval']) total += Number(/calls=(\d+)/.exec(stats.get(name) ?? '')?.[1] ?? 0);
    }
    return total;
  }

  beforeAll(async () => {
    if (topology === 'standalone') server = await startRedis();
    else cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    const target: RedisModuleOptions = server ? { url: server.url } : { cluster: { nodes: cluster!.seeds } };
    app = await boot(platform, {
      ...target,
      keyPrefix: `${platform}:`,
      rateLimit: { defaults: [{ limit: 1000, window: '1m', name: 'global' }], trustProxy: 1, legacyHeaders: true },
    }, [LimitedController]);
    globalApp = await boot(platform, { ...target, keyPrefix: `${platform}-global:` }, [GloballyLimitedController], [{ provide: APP_GUARD, useExisting: RateLimitGuard }]);
    base = urlOf(app);
    globalBase = urlOf(globalApp);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await globalApp?.close();
    await server?.stop();
    await cluster?.stop();
  });

  it('allows up to the limit with standard headers, then answers 429 with the policy and Retry-After', async () => {
    const client = { 'x-forwarded-for': '10.1.0.1' };
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await hit(base, '/rl/basic', client));
    expect(seen.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(seen[0]!.headers.get('ratelimit-policy')).toBe('"global";q=1000;w=60, "basic";q=3;w=60');
    const fields = seen.map((r) => r.headers.get('ratelimit') ?? '');
    fields.forEach((f, i) => expect(f).toMatch(new RegExp(`^"global";r=${999 - i};t=\\d+, "basic";r=${2 - i};t=\\d+$`)));
    // Sliding window: the quota is whole again once this bucket and the next have passed (60-120 s).
    const t = Number(/"basic";r=0;t=(\d+)/.exec(fields[2]!)![1]);
    expect(t).toBeGreaterThan(60);
    expect(t).toBeLessThanOrEqual(120);
    // Legacy headers describe the policy closest to refusing; Reset is in seconds from now.
    expect(seen[2]!.headers.get('x-ratelimit-limit')).toBe('3');
    expect(seen[2]!.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Math.abs(Number(seen[2]!.headers.get('x-ratelimit-reset')) - t)).toBeLessThanOrEqual(1);

    const refused = await hit(base, '/rl/basic', client);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests', policy: 'basic' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(refused.body.retryAfter).toBe(retryAfter);
    // 3 hits early in the current minute must decay out of the sliding estimate: up to ~2 windows.
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(refused.headers.get('ratelimit')).toMatch(/^"global";r=997;t=\d+, "basic";r=0;t=\d+$/);
  });

  it('stacked policies: refused by the tightest, and refused requests are not charged to the others', async () => {
    const client = { 'x-forwarded-for': '10.1.0.2' };
    expect((await hit(base, '/rl/stacked', client)).status).toBe(200);
    expect((await hit(base, '/rl/stacked', client)).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const refused = await hit(base, '/rl/stacked', client);
      expect(refused.status).toBe(429);
      expect(refused.body.policy).toBe('burst');
      // From Redis, 'sustained' still shows 8 left (10 - the 2 admitted) and 'global' 998; later
      // refusals come from the block cache, which knows only the blocking policy.
      expect(refused.headers.get('ratelimit')).toMatch(i === 0 ? /^"global";r=998;t=\d+, "burst";r=0;t=\d+, "sustained";r=8;t=\d+$/ : /^"burst";r=0;t=\d+$/);
    }
    // A different route of the same client proves nothing was charged to 'global' by the refusals.
    expect((await hit(base, '/rl/basic', client)).headers.get('ratelimit')).toMatch(/^"global";r=997;/);
  });

  it('@SkipRateLimit: no limit and no headers', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await hit(base, '/rl/skip', { 'x-forwarded-for': '10.1.0.3' });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBeNull();
    }
  });

  it("by: 'user' keys by the authenticated user across addresses, and skips anonymous requests", async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await hit(base, '/rl/user', { 'x-user': 'alice', 'x-forwarded-for': `10.2.0.${i}` })).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await hit(base, '/rl/user', { 'x-user': 'bob', 'x-forwarded-for': '10.2.0.0' })).status).toBe(200);
    // A user id with braces cannot break out of its hash tag (the call would fail on Cluster).
    expect((await hit(base, '/rl/user', { 'x-user': 'e}vil{x', 'x-forwarded-for': '10.2.0.9' })).status).toBe(200);
    const anonymous = await hit(base, '/rl/user', { 'x-forwarded-for': '10.2.0.1' });
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('ratelimit')).not.toContain('per-user');
  });

  it('by: a function of the context', async () => {
    const codes = [];
    for (const key of ['k1', 'k1', 'k1', 'k2']) codes.push((await hit(base, '/rl/custom', { 'x-api-key': key, 'x-forwarded-for': '10.3.0.1' })).status);
    expect(codes).toEqual([200, 200, 429, 200]);
  });

  it('with one trusted proxy, a spoofed X-Forwarded-For entry does not reset the budget', async () => {
    const codes = [];
    // The proxy appended the real client (10.4.0.1); whatever the client wrote before it is ignored.
    for (let i = 0; i < 4; i++) codes.push((await hit(base, '/rl/ip', { 'x-forwarded-for': `203.0.113.${i}, 10.4.0.1` })).status);
    expect(codes).toEqual([200, 200, 429, 429]);
  });

  it('with no proxy trusted (APP_GUARD), X-Forwarded-For is ignored altogether', async () => {
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await hit(globalBase, '/open/ip', { 'x-forwarded-for': `198.51.100.${i}` })).status);
    expect(codes).toEqual([200, 200, 429, 429]);
  });

  it('a blocked subject is refused from the local block cache: no Redis call until its retry time', async () => {
    const client = { 'x-forwarded-for': '10.5.0.1' };
    expect((await hit(base, '/rl/one', client)).status).toBe(200);
    expect((await hit(base, '/rl/one', client)).status).toBe(429);
    const before = await scriptCalls();
    for (let i = 0; i < 20; i++) {
      const res = await hit(base, '/rl/one', client);
      expect(res.status).toBe(429);
      expect(res.body.policy).toBe('one');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(await scriptCalls()).toBe(before);
    // Another subject still goes to Redis: exactly one script call for its request, whatever the policy count.
    expect((await hit(base, '/rl/stacked', { 'x-forwarded-for': '10.5.0.2' })).status).toBe(200);
    expect(await scriptCalls()).toBe(before + 1);
  });
});

describe('RateLimitGuard configuration errors', () => {
  it('a bad module section stops start-up with a message naming the option', async () => {
    await expect(boot('express', { rateLimit: { defaults: [{ limit: 0, window: '1m' }], ipv6Subnet: 200 } }, [])).rejects.toThrow(
      /rateLimit\.ipv6Subnet must be an integer from 8 to 128[\s\S]*rateLimit\.defaults\[0\]: limit must be an integer >= 1/,
    );
  });

  it('a bad @RateLimit is reported on first use, naming the handler', async () => {
    @Controller('bad')
    @UseGuards(RateLimitGuard)
    class BadController {
      @Get()
      @RateLimit({ limit: 5, window: '1m', name: 'a' })
      @RateLimit({ limit: 5, window: '10 minutes' as never, name: 'b' })
      bad() {
        return {};
      }
    }
    const app = await boot('express', {}, [BadController]);
    try {
      const guard = app.get(RateLimitGuard);
      expect(guard).toBeInstanceOf(RateLimitGuard);
      const res = await hit(urlOf(app), '/bad');
      expect(res.status).toBe(500);
      const error = (() => {
        try {
          (guard as unknown as { getPolicies(c: unknown): unknown }).getPolicies({ getHandler: () => BadController.prototype.bad, getClass: () => BadController });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(RateLimitConfigError);
      expect((error as Error).message).toMatch(/@RateLimit on BadController\.bad: window must be/);
    } finally {
      await app.close();
    }
  });
});
