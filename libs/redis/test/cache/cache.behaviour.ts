import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CacheOptions } from '../../src/cache/cache.options.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions, type RedisModuleOptions } from '../../src/redis.options.js';
import { waitUntil } from '@nestjs-redis-kit/test-support';

/** How a suite reaches its store: module options without keyPrefix (the suite adds one per test). */
export interface CacheTarget {
  label: string;
  /** Options naming the store; `{}` = the embedded memory engine. */
  options: () => RedisModuleOptions;
  /** True when two connections see the same data (any Redis); false for memory. */
  shared: boolean;
}

export interface OpenCache {
  cache: CacheService;
  connection: RedisConnection;
}

let prefixes = 0;

/** Opens caches on one keyPrefix; every connection and cache is closed by `closeAll`. */
export function cacheFactory(target: CacheTarget) {
  const opened: OpenCache[] = [];
  return {
    async open(cacheOptions: CacheOptions = {}, prefix?: string, extra: RedisModuleOptions = {}): Promise<OpenCache> {
      const connection = new RedisConnection(resolveRedisOptions({ ...target.options(), keyPrefix: prefix ?? `c${++prefixes}:`, ...extra }));
      await connection.onModuleInit();
      const cache = CacheService.create(connection, cacheOptions);
      await cache.onModuleInit();
      const handle = { cache, connection };
      opened.push(handle);
      return handle;
    },
    newPrefix: () => `c${++prefixes}:`,
    async closeAll(): Promise<void> {
      for (const { cache, connection } of opened.splice(0)) {
        await cache.onApplicationShutdown();
        await connection.onApplicationShutdown();
      }
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runCacheSuite(target: CacheTarget, setup: { beforeAll?: () => Promise<void>; afterAll?: () => Promise<void> } = {}): void {
  describe(`CacheService on ${target.label}`, () => {
    const factory = cacheFactory(target);
    beforeAll(async () => {
      await setup.beforeAll?.();
    });
    afterAll(async () => {
      await factory.closeAll();
      await setup.afterAll?.();
    });

    it('round-trips JSON, Date, Map, Set, BigInt, Buffer, NaN, and keeps undefined apart from null', async () => {
      const { cache } = await factory.open();
      const value = {
        when: new Date('2026-01-02T03:04:05.678Z'),
        map: new Map<unknown, unknown>([
          ['a', 1],
          [2, new Set(['x'])],
        ]),
        set: new Set([1, 'two', null]),
        big: 12345678901234567890n,
        buf: Buffer.from([0, 1, 254, 255]),
        nan: Number.NaN,
        nested: [undefined, null, { deep: new Date(0) }],
        looksLikeOurTag: { $t: 'D', v: 5 },
        text: 'ü ✓ 𝄞',
      };
      await cache.set('typed', value);
      expect(await cache.get('typed')).toEqual(value);
      const back = (await cache.get<typeof value>('typed'))!;
      expect(back.when).toBeInstanceOf(Date);
      expect(Buffer.isBuffer(back.buf)).toBe(true);
      expect(typeof back.big).toBe('bigint');
      expect(back.looksLikeOurTag).toEqual({ $t: 'D', v: 5 });

      await cache.set('plain', { a: [1, 2, 'x'], b: true });
      expect(await cache.get('plain')).toEqual({ a: [1, 2, 'x'], b: true });

      await cache.set('undef', undefined);
      await cache.set('null', null);
      expect(await cache.has('undef')).toBe(true);
      expect(await cache.get('undef')).toBeUndefined();
      expect(await cache.get('null')).toBeNull();
      expect(await cache.has('never-set')).toBe(false);
    });

    it('expires values after their ttl, accepts "30s"-style durations and rejects bad ones by name', async () => {
      const { cache } = await factory.open();
      // Long enough that a busy machine still reads it before it expires.
      await cache.set('short', 1, { ttl: 1_500 });
      await cache.set('long', 2, { ttl: '30s' });
      expect(await cache.get('short')).toBe(1);
      await waitUntil(async () => (await cache.get('short')) === undefined, { timeoutMs: 10_000, what: 'short to expire' });
      expect(await cache.get('long')).toBe(2);
      await expect(cache.set('bad', 1, { ttl: 'soon' as never })).rejects.toMatchObject({ code: 'E_REDIS_CONFIG' });
      await expect(cache.get('')).rejects.toMatchObject({ code: 'E_CACHE_INPUT' });
    });

    it('mget/mset handle many keys (across cluster slots), misses and tags in one call each', async () => {
      const { cache } = await factory.open();
      const entries = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: { i }, tags: i % 2 === 0 ? ['even'] : undefined }));
      await cache.mset(entries);
      const keys = [...entries.map((e) => e.key), 'missing'];
      const values = await cache.mget(keys);
      expect(values).toEqual([...entries.map((e) => e.value), undefined]);
      await cache.invalidateTags(['even']);
      const after = await cache.mget(keys);
      expect(after).toEqual([...entries.map((e) => (e.value.i % 2 === 0 ? undefined : e.value)), undefined]);
    });

    it('del removes one or several keys and reports how many existed', async () => {
      const { cache } = await factory.open();
      await cache.mset([
        { key: 'a', value: 1 },
        { key: 'b', value: 2 },
        { key: 'c', value: 3 },
      ]);
      expect(await cache.del(['a', 'b', 'zzz'])).toBe(2);
      expect(await cache.del('c')).toBe(1);
      expect(await cache.mget(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined]);
    });

    it('namespaces with hostile names cannot read, invalidate or clear each other', async () => {
      const { cache } = await factory.open();
      const names = ['a:*', '{x}', '..', 'a', 'a:', '%41', 'a/b'];
      const spaces = names.map((n) => cache.namespace(n));
      await cache.set('k', 'root');
      await cache.set('*', 'root-star');
      for (const [i, ns] of spaces.entries()) {
        await ns.set('k', names[i]);
        await ns.set('*', `${names[i]}-star`);
        await ns.set('tagged', i, { tags: ['t'] });
      }
      for (const [i, ns] of spaces.entries()) expect(await ns.get('k')).toBe(names[i]);

      // `a:*` clears itself only, not `a`, `a:` or the root, although its name is a glob.
      await spaces[0]!.clear();
      expect(await spaces[0]!.get('k')).toBeUndefined();
      for (const ns of spaces.slice(1)) expect(await ns.get('k')).not.toBeUndefined();
      expect(await cache.get('k')).toBe('root');

      // A pattern of `*` stays inside its namespace.
      expect(await spaces[3]!.invalidatePattern('*')).toBe(3);
      expect(await spaces[4]!.get('k')).toBe('a:');
      expect(await cache.get('*')).toBe('root-star');

      // Tags are per namespace.
      await spaces[1]!.invalidateTags(['t']);
      expect(await spaces[1]!.get('tagged')).toBeUndefined();
      expect(await spaces[2]!.get('tagged')).toBe(2);

      // The same name gives the same namespace (and the same stats).
      expect(cache.namespace('{x}')).toBe(spaces[1]);
      expect(() => cache.namespace('')).toThrow(expect.objectContaining({ code: 'E_CACHE_INPUT' }));
    });

    it('invalidatePattern matches user keys exactly: glob characters in keys are escaped', async () => {
      const { cache } = await factory.open();
      for (const k of ['user:1', 'user:2', 'user:10', 'order:1', 'a*b', 'axb', 'user', 'x:user:1']) await cache.set(k, k);
      expect(await cache.invalidatePattern('user:?')).toBe(2);
      expect(await cache.get('user:10')).toBe('user:10');
      expect(await cache.invalidatePattern('user:*')).toBe(1);
      expect(await cache.invalidatePattern('a\\*b')).toBe(1);
      expect(await cache.get('axb')).toBe('axb');
      expect(await cache.mget(['order:1', 'user', 'x:user:1'])).toEqual(['order:1', 'user', 'x:user:1']);
    });

    it('getOrSet runs the loader once for 1,000 concurrent calls, and a failing loader caches nothing', async () => {
      const { cache } = await factory.open();
      let calls = 0;
      const loader = async () => {
        calls++;
        await sleep(50);
        return { n: calls };
      };
      const results = await Promise.all(Array.from({ length: 1_000 }, () => cache.getOrSet('cold', loader)));
      expect(calls).toBe(1);
      expect(results.every((r) => r.n === 1)).toBe(true);
      expect(await cache.getOrSet('cold', loader)).toEqual({ n: 1 });

      let failing = 0;
      const boom = async () => {
        failing++;
        await sleep(20);
        throw new Error('db down');
      };
      const settled = await Promise.allSettled(Array.from({ length: 1_000 }, () => cache.getOrSet('bad', boom)));
      expect(failing).toBe(1);
      expect(settled.every((s) => s.status === 'rejected' && (s.reason as Error).message === 'db down')).toBe(true);
      expect(await cache.has('bad')).toBe(false);
      // Nothing was cached: the next call loads again.
      await expect(cache.getOrSet('bad', async () => 'ok')).resolves.toBe('ok');
      expect(cache.stats()).toMatchObject({ loads: 3, loadErrors: 1 });
    });

    it('tags invalidate every value carrying them; an invalidation during a load leaves nothing readable', async () => {
      const { cache } = await factory.open();
      await cache.set('p1', 'one', { tags: ['product', 'p1'] });
      await cache.set('p2', 'two', { tags: ['product'] });
      await cache.set('other', 'x', { tags: ['other'] });
      await cache.invalidateTags(['p1']);
      expect(await cache.mget(['p1', 'p2', 'other'])).toEqual([undefined, 'two', 'x']);
      await cache.invalidateTags(['product']);
      expect(await cache.mget(['p1', 'p2', 'other'])).toEqual([undefined, undefined, 'x']);

      // The race: the loader reads old data, an invalidation lands meanwhile, then the write happens.
      const value = await cache.getOrSet(
        'racy',
        async () => {
          await cache.invalidateTags(['catalog']);
          return 'old data';
        },
        { tags: ['catalog'] },
      );
      expect(value).toBe('old data');
      expect(await cache.get('racy')).toBeUndefined();
      // A fresh load under the new version is readable again.
      await cache.getOrSet('racy', async () => 'new data', { tags: ['catalog'] });
      expect(await cache.get('racy')).toBe('new data');
    });

    it('a getOrSet made after a set, del or invalidation does not join a load started before it', async () => {
      const { cache } = await factory.open();
      for (const [i, write] of [
        (k: string) => cache.set(k, 'written'),
        (k: string) => cache.del(k),
        (k: string) => cache.invalidateTags([`t-${k}`]),
      ].entries()) {
        const key = `joined-${i}`;
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const slow = cache.getOrSet(key, async () => {
          await gate;
          return 'read before the write';
        }, { tags: [`t-${key}`] });
        await new Promise((r) => setTimeout(r, 20));
        await write(key);
        const after = cache.getOrSet(key, async () => 'read after the write', { tags: [`t-${key}`] });
        release();
        expect(await slow).toBe('read before the write');
        expect(await after).toBe(i === 0 ? 'written' : 'read after the write');
      }
    });

    it('a corrupted or foreign value is a miss: counted, removed, never a crash', async () => {
      const { cache, connection } = await factory.open();
      await cache.set('good', 1);
      for (const [i, junk] of ['not ours', '~c1|j|', '~c1|j||{broken', '~c1|q|||1', '~c1|tz|||!!!!', '~c1|t|||{"$t":"?"}'].entries()) {
        await connection.engine.set(`cache::junk${i}`, junk);
        expect(await cache.get(`junk${i}`)).toBeUndefined();
        expect(await connection.engine.get(`cache::junk${i}`)).toBeNull();
      }
      expect(await cache.getOrSet('junk0', async () => 'reloaded')).toBe('reloaded');
      expect(cache.stats().corrupt).toBe(6);
      expect(await cache.get('good')).toBe(1);
    });

    it('compresses large values transparently and refuses values over maxValueBytes with a code', async () => {
      const { cache, connection } = await factory.open({ compressThreshold: 1_000, maxValueBytes: 200_000 });
      const big = { text: 'abc'.repeat(10_000), list: Array.from({ length: 500 }, (_, i) => i) };
      await cache.set('big', big);
      const raw = (await connection.engine.get('cache::big'))!;
      expect(raw.startsWith('~c1|jz|')).toBe(true);
      expect(raw.length).toBeLessThan(JSON.stringify(big).length / 5);
      expect(await cache.get('big')).toEqual(big);
      await expect(cache.set('huge', 'x'.repeat(300_000))).rejects.toMatchObject({ code: 'E_CACHE_VALUE_TOO_LARGE' });
      expect(await cache.has('huge')).toBe(false);
      await expect(cache.set('fn', { f: () => 1 })).rejects.toMatchObject({ code: 'E_CACHE_SERIALIZE' });
    });

    it('grace: serves the stale value at once, refreshes once in the background, keeps stale while the refresh fails', async () => {
      const { cache, connection } = await factory.open();
      const opts = { ttl: 100, grace: '1m' } as const;
      // A failed refresh leaves its error on the lock for a moment (a back-off): wait it out between steps.
      const lockFree = () => waitUntil(async () => (await connection.engine.get('cachelock::g')) === null, { timeoutMs: 5_000, what: 'the lock to clear' });
      await cache.getOrSet('g', async () => 'v1', opts);
      await waitUntil(async () => !(await cache.get('g')), { timeoutMs: 5_000, what: 'g to go stale' });

      let failures = 0;
      const failing = async () => {
        failures++;
        throw new Error('source down');
      };
      const stale = await Promise.all(Array.from({ length: 20 }, () => cache.getOrSetWithOutcome('g', failing, opts)));
      expect(stale.every((r) => r.value === 'v1' && r.outcome === 'STALE')).toBe(true);
      await waitUntil(() => cache.stats().loadErrors === 1, { timeoutMs: 5_000, what: 'the failed refresh' });
      expect(failures).toBe(1);
      await lockFree();
      // Still stale after the failure, and the next call tries again.
      expect(await cache.getOrSetWithOutcome('g', failing, opts)).toEqual({ value: 'v1', outcome: 'STALE' });
      await waitUntil(() => cache.stats().loadErrors === 2, { timeoutMs: 5_000, what: 'the second failed refresh' });
      await lockFree();

      let refreshes = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const slow = async () => {
        refreshes++;
        await gate;
        return 'v2';
      };
      const answers = await Promise.all(Array.from({ length: 10 }, () => cache.getOrSet('g', slow, { ttl: '1m', grace: '1m' })));
      expect(answers).toEqual(Array(10).fill('v1'));
      release();
      await waitUntil(async () => (await cache.get('g')) === 'v2', { timeoutMs: 5_000, what: 'the background refresh' });
      expect(refreshes).toBe(1);
      expect(cache.stats().staleHits).toBe(31);
    });

    it('a lock left by a dead holder expires and the waiter loads the value itself', async () => {
      const { cache, connection } = await factory.open({ lockTimeout: 200 });
      // A crashed instance's lease: nobody renews or releases it.
      await connection.engine.set('cachelock::orphan', 'dead-token', { ttlMs: 300 });
      let calls = 0;
      const values = await Promise.all(Array.from({ length: 5 }, () => cache.getOrSet('orphan', async () => ++calls)));
      expect(values).toEqual([1, 1, 1, 1, 1]);
      expect(calls).toBe(1);
    });

    it('stats are kept per namespace with a hit ratio', async () => {
      const { cache } = await factory.open();
      const ns = cache.namespace('stats');
      await ns.set('a', 1);
      await ns.get('a');
      await ns.get('a');
      await ns.get('b');
      await ns.getOrSet('c', async () => 3);
      expect(ns.stats()).toMatchObject({ namespace: 'stats', hits: 2, misses: 2, loads: 1, loadErrors: 0, hitRatio: 0.5 });
      expect(cache.stats()).toMatchObject({ namespace: 'default', hits: 0, misses: 0 });
    });

    it('an L1 tier serves hits from memory and keeps them bounded', async () => {
      const { cache, connection } = await factory.open({ l1: { maxEntries: 2 } });
      await cache.set('a', { v: 1 });
      expect(await cache.get('a')).toEqual({ v: 1 });
      expect(cache.stats().l1Hits).toBe(1);
      // Bounded: after two more keys `a` has left L1 and is read from the store again.
      await cache.set('b', 2);
      await cache.set('c', 3);
      await connection.engine.del(['cache::a']);
      expect(await cache.get('a')).toBeUndefined();
      expect(await cache.get('c')).toBe(3);
    });

    if (target.shared) {
      it('two instances run the loader once in total and share its error', async () => {
        const prefix = factory.newPrefix();
        const a = await factory.open({}, prefix);
        const b = await factory.open({}, prefix);
        let calls = 0;
        const loader = async () => {
          calls++;
          await sleep(150);
          return 'shared';
        };
        const all = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).cache.getOrSet('cold', loader)));
        expect(calls).toBe(1);
        expect(new Set(all)).toEqual(new Set(['shared']));

        let failing = 0;
        const boom = async () => {
          failing++;
          await sleep(150);
          throw new Error('upstream 503');
        };
        const first = a.cache.getOrSet('bad', boom);
        await sleep(30);
        const second = b.cache.getOrSet('bad', boom);
        // Both expectations are attached before either settles: B may learn of the failure first.
        await Promise.all([
          expect(first).rejects.toThrow('upstream 503'),
          expect(second).rejects.toMatchObject({ code: 'E_CACHE_REMOTE_LOAD', message: expect.stringContaining('upstream 503') }),
        ]);
        expect(failing).toBe(1);
      });

      it('tags, deletes, patterns and clears on one instance are seen by the other, L1 included', async () => {
        const prefix = factory.newPrefix();
        const a = await factory.open({ l1: { maxEntries: 1_000 } }, prefix);
        const b = await factory.open({ l1: { maxEntries: 1_000 } }, prefix);
        await a.cache.mset([
          { key: 'k1', value: 1 },
          { key: 'k2', value: 2, tags: ['t'] },
          { key: 'p:1', value: 3 },
          { key: 'k4', value: 4 },
        ]);
        // B holds each in its L1.
        expect(await b.cache.mget(['k1', 'k2', 'p:1', 'k4'])).toEqual([1, 2, 3, 4]);
        // A read racing the eviction of A's write may skip its L1 fill (it cannot tell the two apart); a later one fills.
        await waitUntil(async () => (await b.cache.get('k1')) === 1 && b.cache.stats().l1Hits > 0, { timeoutMs: 2_000, what: 'B to serve k1 from L1' });

        await a.cache.set('k1', 'new');
        await waitUntil(async () => (await b.cache.get('k1')) === 'new', { timeoutMs: 2_000, what: 'B to drop its L1 copy of k1' });
        await a.cache.invalidateTags(['t']);
        await waitUntil(async () => (await b.cache.get('k2')) === undefined, { timeoutMs: 2_000, what: 'B to drop tagged k2' });
        await a.cache.invalidatePattern('p:*');
        await waitUntil(async () => (await b.cache.get('p:1')) === undefined, { timeoutMs: 2_000, what: 'B to drop p:1' });
        await a.cache.clear();
        await waitUntil(async () => (await b.cache.get('k4')) === undefined, { timeoutMs: 2_000, what: 'B to drop k4' });
      });
    }
  });
}
