import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import { BadRequestException, Body, Controller, Get, HostParam, Injectable, Module, Param, Post, Query, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { Cacheable, CacheableInterceptor, type HttpRequestLike } from '../../src/cache/cache.interceptor.js';
import { CacheEvict, Cached } from '../../src/cache/cache.methods.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisModule } from '../../src/redis.module.js';

type Platform = 'express' | 'fastify';
let runs = 0;

/** Builds the same routes under any class name: a rename (or a minifier) changes only the name. */
function tripsController(className: string) {
  @Controller('trips')
  class Trips {
    @Get(':id')
    @Cacheable({ ttl: '1m', tags: ['trips'] })
    one(@Param('id') id: string) {
      return { id, run: ++runs };
    }

    @Post(':id')
    @CacheEvict({ tags: ['trips'] })
    update(@Param('id') id: string, @Body() body: { fail?: boolean }) {
      if (body?.fail) throw new BadRequestException('refused');
      return { id, updated: true };
    }
  }
  Object.defineProperty(Trips, 'name', { value: className });
  return Trips;
}

/** Two classes a minifier named alike, each with a method named alike, on different paths. */
function minified(path: string) {
  @Controller(path)
  class a {
    @Get('list')
    @Cacheable({ ttl: '1m', vary: [] })
    b() {
      return { path, run: ++runs };
    }
  }
  return a;
}

@Injectable()
class PricesService {
  loads = 0;

  @Cached({ ttl: '1m', tags: (id: string) => [`price:${id}`] })
  async price(id: string): Promise<{ id: string; load: number }> {
    return { id, load: ++this.loads };
  }
}

@Controller('prices')
class PricesController {
  constructor(private readonly prices: PricesService) {}

  @Get(':id')
  price(@Param('id') id: string) {
    return this.prices.price(id);
  }

  @Post(':id')
  @CacheEvict({ tags: (req: HttpRequestLike) => [`price:${String(req.params?.id)}`] })
  reprice(@Param('id') id: string) {
    return { id, repriced: true };
  }
}

@Controller('search')
class SearchController {
  @Get()
  @Cacheable({
    ttl: '1m',
    vary: [],
    isCacheable: (ctx: ExecutionContext) => ctx.switchToHttp().getRequest<HttpRequestLike>().query?.fresh === undefined,
    key: (ctx: ExecutionContext) => `search:${String(ctx.switchToHttp().getRequest<HttpRequestLike>().query?.q ?? '')}`,
  })
  find(@Query('q') q: string) {
    return { q, run: ++runs };
  }

  @Get('tracked')
  @Cacheable({ ttl: '1m', vary: [] })
  tracked(@Query('q') q: string) {
    return { q, run: ++runs };
  }

  @Post('tracked')
  @Cacheable({ ttl: '1m', vary: [] })
  trackedPost(@Query('q') q: string) {
    return { q, run: ++runs, posted: true };
  }
}

/** An app-wide subclass: ignores marketing parameters in the key and caches POST /search/tracked too. */
@Injectable()
class TrackingInterceptor extends CacheableInterceptor {
  protected override isRequestCacheable(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<HttpRequestLike & { url?: string }>();
    return super.isRequestCacheable(context) || req.method === 'POST';
  }

  protected override trackBy(context: ExecutionContext): string | undefined {
    const req = context.switchToHttp().getRequest<HttpRequestLike>();
    return `${this.routeKey(context)}?q=${String(req.query?.q ?? '')}`;
  }
}

/** One route template served per tenant host. */
@Controller({ host: ':tenant.shop.test', path: 'account' })
class TenantAccountController {
  @Get()
  @Cacheable({ ttl: '1m', vary: [] })
  account(@HostParam('tenant') tenant: string) {
    return { tenant, run: ++runs };
  }
}

@Controller('filter')
class FilterController {
  @Get()
  @Cacheable({ ttl: '1m', vary: [] })
  filter(@Query() query: unknown) {
    return { query, run: ++runs };
  }
}

/** A GET with an explicit Host header (fetch cannot set one). */
function getWithHost(app: INestApplication, path: string, host: string): Promise<{ status?: number; cache?: string; body: Record<string, unknown> }> {
  const { port } = app.getHttpServer().address() as { port: number };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode, cache: res.headers['x-cache'] as string | undefined, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function boot(platform: Platform, url: string, controllers: unknown[], providers: unknown[] = []): Promise<INestApplication> {
  @Module({ imports: [RedisModule.forRoot({ url, keyPrefix: `httpkeys-${platform}:` })], controllers: controllers as never[], providers: [PricesService, ...(providers as never[])] })
  class AppModule {}
  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
  const app = await NestFactory.create(AppModule, adapter as never, { logger: false, abortOnError: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

async function call(app: INestApplication, method: string, path: string, body?: unknown) {
  const { port } = app.getHttpServer().address() as { port: number };
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, cache: res.headers.get('x-cache'), body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

describe.each(['express', 'fastify'] as const)('cache decorators over HTTP (%s, standalone Redis)', (platform) => {
  let server: RedisProcess;
  const apps: INestApplication[] = [];
  const open = async (controllers: unknown[], providers: unknown[] = []) => {
    const app = await boot(platform, server.url, controllers, providers);
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    while (apps.length > 0) await apps.pop()!.close();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a renamed controller keeps its cache: the key is the declared route, not the class name', async () => {
    const first = await open([tripsController('TripsController')]);
    const cold = await call(first, 'GET', '/trips/7');
    expect(cold.cache).toBe('MISS');
    await first.close();
    apps.pop();

    const second = await open([tripsController('JourneysController')]);
    const warm = await call(second, 'GET', '/trips/7');
    expect(warm.cache).toBe('HIT');
    expect(warm.body).toEqual(cold.body);
  });

  it('two routes never share an entry, even when a minifier gave their classes and methods the same names', async () => {
    const app = await open([minified('left'), minified('right')]);
    const left = await call(app, 'GET', '/left/list');
    const right = await call(app, 'GET', '/right/list');
    expect([left.cache, right.cache]).toEqual(['MISS', 'MISS']);
    expect(left.body).toMatchObject({ path: 'left' });
    expect(right.body).toMatchObject({ path: 'right' });
    expect((await call(app, 'GET', '/left/list')).body).toEqual(left.body);
    expect((await call(app, 'GET', '/right/list')).body).toEqual(right.body);
  });

  it('a host-routed controller keeps one entry per host: one tenant never gets the response cached for another', async () => {
    const app = await open([TenantAccountController]);
    const alpha = await getWithHost(app, '/account', 'alpha.shop.test');
    const beta = await getWithHost(app, '/account', 'beta.shop.test');
    expect(alpha).toMatchObject({ status: 200, cache: 'MISS', body: { tenant: 'alpha' } });
    expect(beta).toMatchObject({ status: 200, cache: 'MISS', body: { tenant: 'beta' } });
    expect(await getWithHost(app, '/account', 'alpha.shop.test')).toMatchObject({ cache: 'HIT', body: alpha.body });
  });

  it('a HEAD is served like the GET, and only what the handler returns is cached', async () => {
    const app = await open([tripsController('TripsController')]);
    const head = await call(app, 'HEAD', '/trips/head-first');
    expect(head.status).toBe(200);
    expect(head.cache).toBe('MISS');
    expect((await call(app, 'GET', '/trips/head-first')).cache).toBe('HIT');
  });

  it('@CacheEvict on a route invalidates after the handler succeeds, not when it throws', async () => {
    const app = await open([tripsController('TripsController')]);
    const cold = await call(app, 'GET', '/trips/9');
    expect((await call(app, 'GET', '/trips/9')).cache).toBe('HIT');
    const refused = await call(app, 'POST', '/trips/9', { fail: true });
    expect(refused.status).toBe(400);
    expect((await call(app, 'GET', '/trips/9')).cache).toBe('HIT');
    const updated = await call(app, 'POST', '/trips/9', {});
    expect(updated.status).toBe(201);
    const after = await call(app, 'GET', '/trips/9');
    expect(after.cache).toBe('MISS');
    expect(after.body!.run).not.toBe(cold.body!.run);
  });

  it('@CacheEvict on a route evicts a @Cached service entry by a tag computed from the request', async () => {
    const app = await open([PricesController]);
    const prices = app.get(PricesService);
    expect((await call(app, 'GET', '/prices/a')).body).toEqual({ id: 'a', load: 1 });
    expect((await call(app, 'GET', '/prices/b')).body).toEqual({ id: 'b', load: 2 });
    expect((await call(app, 'GET', '/prices/a')).body).toEqual({ id: 'a', load: 1 });
    expect((await call(app, 'POST', '/prices/a')).status).toBe(201);
    expect((await call(app, 'GET', '/prices/a')).body).toEqual({ id: 'a', load: 3 });
    expect((await call(app, 'GET', '/prices/b')).body).toEqual({ id: 'b', load: 2 });
    expect(prices.loads).toBe(3);
  });

  it('per-route isCacheable and key functions decide what is cached and under which key', async () => {
    const app = await open([SearchController]);
    const first = await call(app, 'GET', '/search?q=rome&page=1');
    expect(first.cache).toBe('MISS');
    // The key function keys by q only.
    const other = await call(app, 'GET', '/search?q=rome&page=2');
    expect(other.cache).toBe('HIT');
    expect(other.body).toEqual(first.body);
    // isCacheable false: straight to the handler, no X-Cache.
    const fresh = await call(app, 'GET', '/search?q=rome&fresh=1');
    expect(fresh.cache).toBeNull();
    expect(fresh.body!.run).not.toBe(first.body!.run);
    expect((await call(app, 'GET', '/search?q=paris')).cache).toBe('MISS');
    // By default a POST is never served from the cache, even under @Cacheable.
    const posts = [await call(app, 'POST', '/search/tracked?q=y'), await call(app, 'POST', '/search/tracked?q=y')];
    expect(posts.map((p) => p.cache)).toEqual([null, null]);
    expect(posts[1]!.body!.run).not.toBe(posts[0]!.body!.run);
  });

  it('a CacheableInterceptor subclass registered app-wide overrides trackBy and isRequestCacheable; @Cacheable steps aside', async () => {
    const app = await open([SearchController], [{ provide: APP_INTERCEPTOR, useClass: TrackingInterceptor }]);
    const http = app.get(CacheService).namespace('http');
    const a = await call(app, 'GET', '/search/tracked?q=x&utm_source=mail');
    // One lookup, not two: the interceptor @Cacheable bound did not cache the same response again.
    expect(http.stats().misses).toBe(1);
    const b = await call(app, 'GET', '/search/tracked?q=x&utm_source=ads');
    expect([a.cache, b.cache]).toEqual(['MISS', 'HIT']);
    expect(b.body).toEqual(a.body);
    // Default isRequestCacheable says no to POST; the subclass widened it.
    const posted = await call(app, 'POST', '/search/tracked?q=y');
    const postedAgain = await call(app, 'POST', '/search/tracked?q=y&utm_source=x');
    expect([posted.cache, postedAgain.cache]).toEqual(['MISS', 'HIT']);
    expect(postedAgain.body).toEqual(posted.body);
    expect(posted.body).toMatchObject({ posted: true });
  });
});

describe('cache keys with an extended query parser (express, standalone Redis)', () => {
  let server: RedisProcess;
  let app: INestApplication | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it('a nested object and a nested array of pairs in the query never share an entry', async () => {
    @Module({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'httpkeys-qs:' })], controllers: [FilterController] })
    class AppModule {}
    app = await NestFactory.create(AppModule, new ExpressAdapter() as never, { logger: false });
    (app as unknown as { set(name: string, value: string): void }).set('query parser', 'extended');
    await app.listen(0, '127.0.0.1');
    const pairs = await call(app, 'GET', '/filter?x[0][0]=k&x[0][1]=v');
    const object = await call(app, 'GET', '/filter?x[k]=v');
    expect(pairs.body).toMatchObject({ query: { x: [['k', 'v']] } });
    expect(object).toMatchObject({ cache: 'MISS', body: { query: { x: { k: 'v' } } } });
    expect(await call(app, 'GET', '/filter?x[k]=v')).toMatchObject({ cache: 'HIT', body: object.body });
  });
});
