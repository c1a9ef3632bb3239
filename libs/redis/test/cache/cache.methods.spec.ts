import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, Module, Scope, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { startCluster, startRedis, waitUntil, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { CacheEvict, Cached } from '../../src/cache/cache.methods.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { CacheInputError } from '../../src/cache/cache.errors.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';

interface Trip {
  id: string;
  name: string;
  version: number;
}

/** A repository the services read from; counts what actually reached it. */
@Injectable()
class TripStore {
  readonly trips = new Map<string, Trip>();
  reads = 0;
  failNext = false;
}

@Injectable()
class TripsService {
  constructor(private readonly store: TripStore) {}

  @Cached({ ttl: '1m', tags: (id: string) => ['trips', `trip:${id}`] })
  async find(id: string): Promise<Trip | null> {
    this.store.reads++;
    await new Promise((r) => setTimeout(r, 20));
    if (this.store.failNext) {
      this.store.failNext = false;
      throw new Error(`trip store unavailable for ${id}`);
    }
    return this.store.trips.get(id) ?? null;
  }

  @Cached({ ttl: '1m', tags: ['trips'] })
  async search(filter: { city?: string; tags?: string[]; since?: Date }, page = 1): Promise<{ count: number; page: number }> {
    this.store.reads++;
    return { count: [...this.store.trips.values()].filter((t) => !filter.city || t.name.includes(filter.city)).length, page };
  }

  @Cached({ key: (id: string) => `trip-name:${id}` })
  async nameOf(id: string): Promise<string | undefined> {
    this.store.reads++;
    return this.store.trips.get(id)?.name;
  }

  @Cached()
  async withCallback(id: string, _onDone: () => void): Promise<string> {
    this.store.reads++;
    return id;
  }

  // The type refuses @Cached on a method that does not return a Promise; this proves the run-time check too.
  // @ts-expect-error a synchronous method cannot be cached
  @Cached()
  plainSync(id: string): string {
    this.store.reads++;
    return id;
  }

  @CacheEvict({ tags: (id: string) => [`trip:${id}`] })
  async rename(id: string, name: string): Promise<Trip> {
    const trip = this.store.trips.get(id);
    if (!trip) throw new Error(`no trip ${id}`);
    const next = { ...trip, name, version: trip.version + 1 };
    this.store.trips.set(id, next);
    return next;
  }

  @CacheEvict({ tags: ['trips'], keys: (id: string) => [`trip-name:${id}`] })
  async remove(id: string): Promise<boolean> {
    return this.store.trips.delete(id);
  }

  @CacheEvict({ patterns: ['trip-name:*'] })
  async renameAll(suffix: string): Promise<void> {
    for (const [id, t] of this.store.trips) this.store.trips.set(id, { ...t, name: `${t.name}${suffix}` });
  }
}

@Module({ providers: [TripStore, TripsService], exports: [TripsService, TripStore] })
class TripsModule {}

async function boot(options: RedisModuleOptions, extra: { providers?: never[]; controllers?: never[]; imports?: never[] } = {}): Promise<INestApplicationContext> {
  const moduleRef = await Test.createTestingModule({
    imports: [RedisModule.forRoot({ ...options, isGlobal: true }), TripsModule, ...(extra.imports ?? [])],
    providers: extra.providers ?? [],
    controllers: extra.controllers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('@Cached and @CacheEvict on provider methods (standalone Redis)', () => {
  let server: RedisProcess;
  const apps: INestApplicationContext[] = [];
  let n = 0;
  const open = async (extra: Partial<RedisModuleOptions> = {}) => {
    const app = await boot({ url: server.url, keyPrefix: `methods${++n}:`, ...extra } as RedisModuleOptions);
    apps.push(app);
    const store = app.get(TripStore);
    store.trips.set('1', { id: '1', name: 'Lisbon', version: 1 });
    store.trips.set('2', { id: '2', name: 'Porto', version: 1 });
    return { app, store, trips: app.get(TripsService), cache: app.get(CacheService) };
  };

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    while (apps.length > 0) await apps.pop()!.close();
  });
  afterAll(async () => {
    if (server?.paused) server.resume();
    await server?.stop();
  });

  it('answers a repeated call from the cache, keyed by the arguments; concurrent misses run the method once', async () => {
    const { trips, store } = await open();
    const burst = await Promise.all(Array.from({ length: 10 }, () => trips.find('1')));
    expect(store.reads).toBe(1);
    expect(burst.every((t) => t?.name === 'Lisbon')).toBe(true);
    expect(await trips.find('1')).toEqual({ id: '1', name: 'Lisbon', version: 1 });
    expect(store.reads).toBe(1);
    expect(await trips.find('2')).toMatchObject({ name: 'Porto' });
    expect(store.reads).toBe(2);
    // A null result is a result too.
    expect(await trips.find('nope')).toBeNull();
    expect(await trips.find('nope')).toBeNull();
    expect(store.reads).toBe(3);
  });

  it('keys objects by their data: key order does not matter, types and values do', async () => {
    const { trips, store } = await open();
    await trips.search({ city: 'Lis', tags: ['a', 'b'], since: new Date('2026-01-01T00:00:00Z') });
    await trips.search({ since: new Date('2026-01-01T00:00:00Z'), tags: ['a', 'b'], city: 'Lis', extra: undefined } as never);
    expect(store.reads).toBe(1);
    await trips.search({ city: 'Lis', tags: ['b', 'a'], since: new Date('2026-01-01T00:00:00Z') });
    await trips.search({ city: 'Lis', tags: ['a', 'b'], since: new Date('2026-01-02T00:00:00Z') });
    await trips.search({ city: 'Lis', tags: ['a', 'b'], since: new Date('2026-01-01T00:00:00Z') }, 2);
    expect(store.reads).toBe(4);
    expect(await trips.search({ city: 'Lis', tags: ['a', 'b'], since: new Date('2026-01-01T00:00:00Z') }, 2)).toEqual({ count: 1, page: 2 });
    expect(store.reads).toBe(4);
  });

  it('does not store a failure: the next call runs the method again', async () => {
    const { trips, store } = await open();
    store.failNext = true;
    await expect(trips.find('1')).rejects.toThrow('trip store unavailable for 1');
    expect(await trips.find('1')).toMatchObject({ name: 'Lisbon' });
    expect(store.reads).toBe(2);
  });

  it('@CacheEvict invalidates the tags computed from its arguments once the method succeeds, not when it throws', async () => {
    const { trips, store } = await open();
    await trips.find('1');
    await trips.find('2');
    expect(store.reads).toBe(2);
    const renamed = await trips.rename('1', 'Lisboa');
    expect(renamed.version).toBe(2);
    expect(await trips.find('1')).toMatchObject({ name: 'Lisboa', version: 2 });
    expect(await trips.find('2')).toMatchObject({ name: 'Porto' });
    expect(store.reads).toBe(3); // only trip 1 was reloaded

    await expect(trips.rename('404', 'x')).rejects.toThrow('no trip 404');
    await trips.find('1');
    expect(store.reads).toBe(3);
  });

  it('a call made after @CacheEvict returned does not get the value a load started before it is still reading', async () => {
    const { trips, store } = await open();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let snapshotTaken = false;
    // The first load reads the store, then stalls (a slow query) until after the write.
    const original = store.trips.get.bind(store.trips);
    store.trips.get = (id: string) => {
      store.trips.get = original;
      snapshotTaken = true;
      const trip = original(id);
      return { then: (ok: (t: Trip | undefined) => void) => void gate.then(() => ok(trip)) } as never;
    };
    const before = trips.find('1');
    await waitUntil(() => snapshotTaken, { timeoutMs: 10_000, what: 'the first load read the store' });
    await trips.rename('1', 'Lisboa');
    const after = trips.find('1');
    release();
    expect((await before)?.name).toBe('Lisbon');
    expect((await after)?.name).toBe('Lisboa');
    expect((await trips.find('1'))?.name).toBe('Lisboa');
  });

  it('@CacheEvict deletes keys and patterns, and tags shared by many entries', async () => {
    const { trips, store, cache } = await open();
    expect(await trips.nameOf('1')).toBe('Lisbon');
    expect(await cache.get('trip-name:1')).toBe('Lisbon'); // a custom key is the entry's key, as is
    await trips.search({});
    await trips.find('2');
    const before = store.reads;
    await trips.remove('1');
    expect(await cache.get('trip-name:1')).toBeUndefined();
    expect(await trips.nameOf('1')).toBeUndefined();
    expect(await trips.search({})).toEqual({ count: 1, page: 1 });
    await trips.find('2'); // tagged 'trips' too
    expect(store.reads).toBe(before + 3);

    await trips.nameOf('2');
    await trips.renameAll('!');
    expect(await trips.nameOf('2')).toBe('Porto!');
  });

  it('refuses arguments it cannot key by, naming the method, and never runs it uncached', async () => {
    const { trips, store } = await open();
    const error = await trips.withCallback('1', () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CacheInputError);
    expect((error as Error).message).toContain('TripsService.withCallback');
    expect((error as Error).message).toContain('arguments[1] is a function');
    const cyclic: Record<string, unknown> = { city: 'x' };
    cyclic.self = cyclic;
    await expect(trips.search(cyclic)).rejects.toThrow(/TripsService\.search .*arguments\[0\]\.self .*cycle/);
    await expect(trips.search({ city: Symbol('s') as never })).rejects.toThrow(/arguments\[0\]\.city is a symbol/);
    expect(store.reads).toBe(0);
  });

  it('a method that returns a plain value fails with an error saying only async methods can be cached', async () => {
    const { trips } = await open();
    await expect((trips.plainSync('1') as unknown as Promise<string>)).rejects.toThrow(/TripsService\.plainSync returned string, not a Promise/);
  });

  it('wraps instances, not classes: two applications in one process keep their own caches', async () => {
    const a = await open();
    const b = await open();
    await a.trips.find('1');
    await a.trips.find('1');
    await b.trips.find('1');
    expect(a.store.reads).toBe(1);
    expect(b.store.reads).toBe(1);
    expect(Object.getPrototypeOf(a.trips).find).not.toBe(a.trips.find);
    expect(new TripsService(new TripStore()).find).toBe(TripsService.prototype.find);
  });

  it('keeps answering during an outage and picks the invalidations back up after it', async () => {
    const { trips, store, app } = await open({ commandTimeoutMs: 200, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200 } } as Partial<RedisModuleOptions>);
    const connection = app.get(RedisConnection);
    await trips.find('1');
    server.pause();
    try {
      // Served from memory, not hung and not failed; an eviction made meanwhile is kept for Redis.
      expect(await trips.find('2')).toMatchObject({ name: 'Porto' });
      await waitUntil(() => connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'memory fallback' });
      await trips.rename('1', 'Lisboa');
      expect(await trips.find('1')).toMatchObject({ name: 'Lisboa' });
    } finally {
      server.resume();
    }
    await waitUntil(() => connection.status() === 'connected', { timeoutMs: 10_000, what: 'Redis back' });
    // The entry written to Redis before the outage was invalidated while it was away.
    expect(await trips.find('1')).toMatchObject({ name: 'Lisboa' });
    expect(store.reads).toBeGreaterThanOrEqual(3);
  });
});

describe('@Cached wiring errors stop start-up with the method named', () => {
  it('a request-scoped provider', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @Cached()
      async load(id: string) {
        return id;
      }
    }
    await expect(boot({}, { providers: [PerRequest as never] })).rejects.toThrow(/@Cached on PerRequest\.load: request-scoped providers are not supported/);
  });

  it('a controller method (routes use @Cacheable)', async () => {
    @Controller('x')
    class RouteController {
      @Get()
      @Cached()
      async list() {
        return [];
      }
    }
    await expect(boot({}, { controllers: [RouteController as never] })).rejects.toThrow(/@Cached on RouteController\.list: a controller route is cached with @Cacheable/);
  });

  it('two classes that share a name would share keys', async () => {
    const make = () => {
      @Injectable()
      class Twin {
        @Cached()
        async get(id: string) {
          return id;
        }
      }
      return Twin;
    };
    const [A, B] = [make(), make()];
    @Module({ providers: [{ provide: 'a', useClass: A }] })
    class ModA {}
    @Module({ providers: [{ provide: 'b', useClass: B }] })
    class ModB {}
    await expect(boot({}, { imports: [ModA as never, ModB as never] })).rejects.toThrow(/two different classes are named Twin/);
  });

  it('bad options are refused where the decorator is written', () => {
    expect(() => CacheEvict({})).toThrow('@CacheEvict needs at least one of tags, keys or patterns');
    expect(() => CacheEvict({ tags: ['ok', ''] })).toThrow('@CacheEvict tags must be an array of non-empty strings');
    expect(() => Cached({ ttl: 'soon' })).toThrow(/ttl/);
    expect(() => Cached({ keys: ['x'] } as never)).toThrow('@Cached has no option "keys"');
  });
});

describe('@Cached and @CacheEvict on the embedded store (no Redis)', () => {
  it('cache, key by arguments and evict by tag the same way', async () => {
    const app = await boot({ keyPrefix: 'embedded:' });
    try {
      const store = app.get(TripStore);
      const trips = app.get(TripsService);
      store.trips.set('1', { id: '1', name: 'Lisbon', version: 1 });
      await Promise.all([trips.find('1'), trips.find('1'), trips.find('1')]);
      await trips.find('1');
      expect(store.reads).toBe(1);
      await trips.rename('1', 'Lisboa');
      expect(await trips.find('1')).toMatchObject({ name: 'Lisboa', version: 2 });
      expect(store.reads).toBe(2);
    } finally {
      await app.close();
    }
  });
});

describe('@Cached and @CacheEvict on Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('tags, keys and patterns evict entries spread over every master', async () => {
    const app = await boot({ cluster: { nodes: cluster.seeds }, keyPrefix: 'methods-cluster:' } as RedisModuleOptions);
    try {
      const store = app.get(TripStore);
      const trips = app.get(TripsService);
      const ids = Array.from({ length: 20 }, (_, i) => String(i));
      for (const id of ids) store.trips.set(id, { id, name: `city ${id}`, version: 1 });
      await Promise.all(ids.map((id) => trips.find(id)));
      await Promise.all(ids.map((id) => trips.nameOf(id)));
      await Promise.all(ids.map((id) => trips.find(id)));
      expect(store.reads).toBe(40);
      await trips.rename('3', 'renamed');
      expect(await trips.find('3')).toMatchObject({ name: 'renamed' });
      expect(store.reads).toBe(41);
      await trips.renameAll('!');
      expect(await Promise.all(ids.map((id) => trips.nameOf(id)))).toEqual(ids.map((id) => (id === '3' ? 'renamed!' : `city ${id}!`)));
      await trips.remove('0'); // tag 'trips' is on every find entry
      await Promise.all(ids.slice(1).map((id) => trips.find(id)));
      expect(store.reads).toBe(41 + 20 + 19);
    } finally {
      await app.close();
    }
  });
});
