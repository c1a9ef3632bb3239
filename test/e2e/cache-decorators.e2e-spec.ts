import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, Get, Injectable, Module, Param, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import request from 'supertest';
import { Cacheable, CacheEvict, Cached, RedisModule, type HttpRequestLike } from 'nestjs-redis-kit';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

/** Stands in for a database every instance of the fleet shares. */
const db = new Map<string, { id: string; title: string }>([
  ['1', { id: '1', title: 'Alfama walk' }],
  ['2', { id: '2', title: 'Douro cruise' }],
]);
let dbReads = 0;

@Injectable()
class ToursService {
  @Cached({ ttl: '5m', tags: (id: string) => [`tour:${id}`] })
  async find(id: string) {
    dbReads++;
    return db.get(id) ?? null;
  }

  @CacheEvict({ tags: (id: string) => [`tour:${id}`, 'tours'] })
  async retitle(id: string, title: string) {
    db.set(id, { id, title });
    return db.get(id)!;
  }
}

@Controller('tours')
class ToursController {
  constructor(private readonly tours: ToursService) {}

  @Get()
  @Cacheable({ ttl: '5m', vary: [], tags: ['tours'] })
  list() {
    dbReads++;
    return [...db.values()].map((t) => t.title);
  }

  @Get(':id')
  one(@Param('id') id: string) {
    return this.tours.find(id);
  }

  @Post(':id')
  retitle(@Param('id') id: string, @Body() body: { title: string }) {
    return this.tours.retitle(id, body.title);
  }

  @Post(':id/archive')
  @CacheEvict({ tags: (req: HttpRequestLike) => [`tour:${String(req.params?.id)}`, 'tours'] })
  archive(@Param('id') id: string) {
    db.delete(id);
    return { archived: id };
  }
}

async function instance(url: string): Promise<INestApplication> {
  @Module({
    imports: [RedisModule.forRoot({ url, keyPrefix: 'tours:', cache: { l1: { maxEntries: 100 } } })],
    controllers: [ToursController],
    providers: [ToursService],
  })
  class ToursModule {}
  const app = await NestFactory.create(ToursModule, { logger: ['error', 'warn'] });
  await app.init();
  return app;
}

describe('cache decorators from the package entry point, across two instances sharing one Redis', () => {
  let server: RedisProcess;
  let a: INestApplication;
  let b: INestApplication;

  beforeAll(async () => {
    server = await startRedis();
    a = await instance(server.url);
    b = await instance(server.url);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  it('a write on one instance evicts what both instances cached, for @Cached and @Cacheable alike', async () => {
    const onA = request(a.getHttpServer());
    const onB = request(b.getHttpServer());
    expect((await onA.get('/tours/1')).body).toEqual({ id: '1', title: 'Alfama walk' });
    expect((await onB.get('/tours/1')).body).toEqual({ id: '1', title: 'Alfama walk' });
    expect((await onA.get('/tours')).headers['x-cache']).toBe('MISS');
    expect((await onB.get('/tours')).headers['x-cache']).toBe('HIT');
    const readsBefore = dbReads;
    expect(readsBefore).toBe(2); // one load of tour 1 and one of the list, for the whole fleet

    await onB.post('/tours/1').send({ title: 'Alfama by night' }).expect(201);
    expect((await onA.get('/tours/1')).body).toEqual({ id: '1', title: 'Alfama by night' });
    const list = await onA.get('/tours');
    expect(list.headers['x-cache']).toBe('MISS');
    expect(list.body).toEqual(['Alfama by night', 'Douro cruise']);

    await onA.post('/tours/2/archive').expect(201);
    expect((await onB.get('/tours/2')).body).toEqual({});
    expect((await onB.get('/tours')).body).toEqual(['Alfama by night']);
  });
});
