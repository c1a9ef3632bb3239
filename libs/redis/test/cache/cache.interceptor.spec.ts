import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, Param, Post, Query, type INestApplication, type NestMiddleware } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { startCluster, startRedis, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { Cacheable } from '../../src/cache/cache.interceptor.js';
import { CacheService } from '../../src/cache/cache.service.js';

let handlerRuns = 0;

@Injectable()
class FakeAuth implements NestMiddleware {
  use(req: { headers: Record<string, string>; user?: { id: string } }, _res: unknown, next: () => void) {
    if (req.headers['x-user']) req.user = { id: req.headers['x-user'] };
    next();
  }
}

@Controller('items')
class ItemsController {
  @Get('mine/:id')
  @Cacheable({ ttl: '1m', vary: ['user'] })
  async mine(@Param('id') id: string, @Query('q') q?: string) {
    handlerRuns++;
    await new Promise((r) => setTimeout(r, 30));
    return { id, q: q ?? null, run: handlerRuns };
  }

  @Get('default')
  @Cacheable({ ttl: '1m' })
  byDefault() {
    return { run: ++handlerRuns };
  }

  @Post('mine/:id')
  @Cacheable({ ttl: '1m' })
  write() {
    return { run: ++handlerRuns };
  }
}

/** Each target starts what it needs and says how to reach it; memory is the embedded store. */
const targets: Array<[string, () => Promise<{ options: RedisModuleOptions; stop: () => Promise<void> }>]> = [
  ['memory', async () => ({ options: {}, stop: async () => undefined })],
  [
    'standalone Redis',
    async () => {
      const server: RedisProcess = await startRedis();
      return { options: { url: server.url }, stop: () => server.stop() };
    },
  ],
  [
    'Redis Cluster',
    async () => {
      const cluster: RedisClusterHandle = await startCluster({ masters: 3, replicasPerMaster: 0 });
      return { options: { cluster: { nodes: cluster.seeds } }, stop: () => cluster.stop() };
    },
  ],
];

describe.each(targets)('@Cacheable on controller GETs (%s)', (_label, start) => {
  let target: Awaited<ReturnType<typeof start>>;
  let app: INestApplication;

  beforeAll(async () => {
    target = await start();
    const moduleRef = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ ...target.options, keyPrefix: 'http:', isGlobal: true })],
      controllers: [ItemsController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.use((req: never, res: never, next: () => void) => new FakeAuth().use(req, res, next));
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await target?.stop();
  });

  it('MISS then HIT, keyed by params and query; concurrent misses run the handler once', async () => {
    const http = request(app.getHttpServer());
    const before = handlerRuns;
    const burst = await Promise.all(Array.from({ length: 20 }, () => http.get('/items/mine/1?q=x').set('x-user', 'alice')));
    expect(handlerRuns - before).toBe(1);
    expect(new Set(burst.map((r) => r.body.run)).size).toBe(1);
    expect(burst.filter((r) => r.headers['x-cache'] === 'MISS').length).toBeGreaterThan(0);

    const again = await http.get('/items/mine/1?q=x').set('x-user', 'alice');
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.body).toEqual(burst[0]!.body);

    const otherQuery = await http.get('/items/mine/1?q=y').set('x-user', 'alice');
    expect(otherQuery.headers['x-cache']).toBe('MISS');
    expect(otherQuery.body.q).toBe('y');
  });

  it("never serves one user's response to another", async () => {
    const http = request(app.getHttpServer());
    const alice = await http.get('/items/mine/2').set('x-user', 'alice');
    const bob = await http.get('/items/mine/2').set('x-user', 'bob');
    expect(bob.headers['x-cache']).toBe('MISS');
    expect(bob.body.run).not.toBe(alice.body.run);
    expect((await http.get('/items/mine/2').set('x-user', 'bob')).body).toEqual(bob.body);

    // Without `vary`, different credentials never share an entry either.
    const t1 = await http.get('/items/default').set('authorization', 'Bearer one');
    const t2 = await http.get('/items/default').set('authorization', 'Bearer two');
    expect(t2.headers['x-cache']).toBe('MISS');
    expect(t2.body.run).not.toBe(t1.body.run);
    expect((await http.get('/items/default').set('authorization', 'Bearer one')).headers['x-cache']).toBe('HIT');
  });

  it('passes non-GET requests through and keeps its entries in the cache\'s "http" namespace', async () => {
    const http = request(app.getHttpServer());
    const a = await http.post('/items/mine/3');
    const b = await http.post('/items/mine/3');
    expect(a.headers['x-cache']).toBeUndefined();
    expect(b.body.run).toBe(a.body.run + 1);
    const cache = app.get(CacheService);
    expect(cache.namespace('http').stats().hits).toBeGreaterThan(0);
    await cache.namespace('http').clear();
    expect((await http.get('/items/mine/1?q=x').set('x-user', 'alice')).headers['x-cache']).toBe('MISS');
  });
});
