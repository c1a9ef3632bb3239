import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { CacheLoaderTimeoutError } from '../../src/cache/cache.errors.js';
import type { CacheOptions } from '../../src/cache/cache.options.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions, type RedisModuleOptions } from '../../src/redis.options.js';
import { waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';

/** Where the suite runs: a standalone Redis or a Cluster, both real. */
export interface CoherenceTarget {
  label: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Connection options naming the store (the suite adds a keyPrefix per test). */
  options(): RedisModuleOptions;
  /** A raw ioredis client for assertions and for planting bytes. */
  admin(): Redis | Cluster;
  /** Every server process (SIGSTOP / SIGCONT). */
  processes(): RedisProcess[];
}

interface Instance {
  cache: CacheService;
  connection: RedisConnection;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let prefixes = 0;

/** A promise and the function that resolves it: a loader the test lets finish when it wants. */
function gate<T>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

export function runCoherenceSuite(target: CoherenceTarget): void {
  describe(`cache coherence and hostile data on ${target.label}`, () => {
    const opened: Instance[] = [];
    let admin: Redis | Cluster;

    /** One app instance: its own connection (and subscriber) and its own CacheService. */
    async function instance(prefix: string, cache: CacheOptions = {}, extra: RedisModuleOptions = {}): Promise<Instance> {
      const connection = new RedisConnection(resolveRedisOptions({ ...target.options(), keyPrefix: prefix, ...extra }));
      await connection.onModuleInit();
      // On a loaded machine start-up can give up on Redis and serve from memory for a moment; these
      // tests are about what Redis holds, so they begin once the instance is on it.
      await waitUntil(() => connection.engine.mode() === 'redis', { timeoutMs: 20_000, what: `the instance (${prefix}) on Redis` });
      const service = CacheService.create(connection, cache);
      await service.onModuleInit();
      const handle = { cache: service, connection };
      opened.push(handle);
      return handle;
    }
    const twoInstances = async (cache: CacheOptions = {}, extra: RedisModuleOptions = {}) => {
      const prefix = `co${++prefixes}:`;
      return { prefix, a: await instance(prefix, cache, extra), b: await instance(prefix, cache, extra) };
    };

    beforeAll(async () => {
      await target.start();
      admin = target.admin();
    });
    afterAll(async () => {
      for (const p of target.processes()) if (p.paused) p.resume();
      for (const { cache, connection } of opened.splice(0)) {
        await cache.onApplicationShutdown();
        await connection.onApplicationShutdown();
      }
      admin?.disconnect();
      await target.stop();
    });

    // ---- invalidation vs a late writer ------------------------------------------------------

    const kinds: Array<[string, (b: CacheService) => Promise<unknown>]> = [
      ['del', (b) => b.del('item:1')],
      ['invalidatePattern', (b) => b.invalidatePattern('item:*')],
      ['clear', (b) => b.clear()],
      ['invalidateTags', (b) => b.invalidateTags(['items'])],
    ];
    for (const [kind, invalidate] of kinds) {
      it(`a slow loader on A cannot write back a value that B's ${kind} invalidated while it ran`, async () => {
        const { a, b } = await twoInstances({ l1: { maxEntries: 100 } });
        const db = { price: 100 };
        const started = gate<void>();
        const release = gate<void>();
        const loading = a.cache.getOrSet(
          'item:1',
          async () => {
            const read = { ...db }; // A reads the database...
            started.open();
            await release.promise; // ...and is slow to get back
            return read;
          },
          { ttl: '1h', tags: ['items'] },
        );
        await started.promise;
        db.price = 200; // B updates the database, then invalidates
        await invalidate(b.cache);
        await sleep(50);
        release.open();
        expect(await loading).toEqual({ price: 100 }); // the caller of the slow load gets what it loaded
        // ...but nobody is served the invalidated value afterwards, on either instance.
        expect(await b.cache.get('item:1')).toBeUndefined();
        expect(await a.cache.get('item:1')).toBeUndefined();
        expect(await b.cache.getOrSet('item:1', () => ({ ...db }), { tags: ['items'] })).toEqual({ price: 200 });
        expect(await a.cache.get('item:1')).toEqual({ price: 200 });
      });
    }

    // ---- L1 across connection events --------------------------------------------------------

    it("after CLIENT KILL TYPE pubsub, A's L1 does not serve a value B replaced during the gap", async () => {
      const { a, b } = await twoInstances({ l1: { maxEntries: 100, ttl: '1h' } });
      await b.cache.set('k', 'v1');
      await waitUntil(async () => (await a.cache.get('k')) === 'v1' && (await a.cache.get('k')) === 'v1' && a.cache.stats().l1Hits > 0, { timeoutMs: 5_000, what: 'A to hold k in L1' });
      await killPubSubClients(admin);
      await b.cache.set('k', 'v2'); // its eviction is published while A's subscriber is away
      expect(await a.cache.get('k')).toBe('v2');
      // And once A's subscriber is back, evictions flow again.
      await waitUntil(async () => (await a.cache.get('k')) === 'v2' && a.cache.stats().l1Hits > 1, { timeoutMs: 10_000, what: 'A to use L1 again' });
      await b.cache.set('k', 'v3');
      await waitUntil(async () => (await a.cache.get('k')) === 'v3', { timeoutMs: 2_000, what: 'A to see v3' });
    });

    it('a read racing an eviction does not fill L1 with the value the eviction replaced', async () => {
      const { a, b } = await twoInstances({ l1: { maxEntries: 100, ttl: '1h' } });
      await b.cache.set('r', 'old');
      // A's GET is answered (with "old") but its reply is slow to reach A (network, a busy loop):
      // B's write and its eviction get to A first.
      const engine = a.connection.engine;
      const slow = gate<void>();
      const get = engine.get.bind(engine);
      let delayed = false;
      engine.get = async (key, options) => {
        const value = await get(key, options);
        if (!delayed && key.endsWith(':r')) {
          delayed = true;
          await slow.promise;
        }
        return value;
      };
      const racing = a.cache.get('r');
      await waitUntil(() => delayed, { timeoutMs: 2_000, what: "A's GET to be answered" });
      await b.cache.set('r', 'new');
      await sleep(50); // B's eviction reaches A
      slow.open();
      expect(await racing).toBe('old'); // a read concurrent with a write may see either...
      engine.get = get;
      expect(await a.cache.get('r')).toBe('new'); // ...but L1 must not keep the old one
    });

    // ---- pattern invalidation when Redis stalls mid-SCAN -----------------------------------

    it('invalidatePattern cut short by a SIGSTOPped Redis rejects or is replayed whole, never silently partial', async () => {
      const prefix = `co${++prefixes}:`;
      const a = await instance(prefix, {}, { commandTimeoutMs: 1_000, breaker: { failureThreshold: 1, probeIntervalMs: 100, maxProbeIntervalMs: 200 } });
      const cache = a.cache.namespace('bulk');
      const total = 40_000;
      // Written straight to Redis (the breaker here opens on one slow reply, and a loaded machine
      // would send cache writes to the fallback). Keys are stored percent-encoded: `p:1` is `p%3A1`.
      const base = `${prefix}cache:bulk:`;
      for (let start = 0; start < total; start += 1_000) {
        await Promise.all(Array.from({ length: 1_000 }, (_, i) => admin.set(`${base}p%3A${start + i}`, `~c1|j|||${start + i}`, 'EX', 3_600)));
      }
      await admin.set(`${base}keep`, '~c1|j|||"me"', 'EX', 3_600);
      const remaining = async () => countKeys(admin, `${base}p%3A*`);
      expect(await remaining()).toBe(total);
      expect(await cache.get('keep')).toBe('me');
      // SIGSTOP Redis right after the walk's first SCAN batch arrived: ~80 batches are left to go.
      const engine = a.connection.engine;
      const scan = engine.scan.bind(engine);
      let paused = false;
      engine.scan = async function* (pattern, options) {
        for await (const batch of scan(pattern, options)) {
          yield batch;
          if (!paused && pattern.includes('bulk')) {
            paused = true;
            for (const p of target.processes()) p.pause();
          }
        }
      };
      const running = cache.invalidatePattern('p:*').then(
        (n) => ({ ok: true as const, n }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      const outcome = await running;
      expect(paused).toBe(true);
      expect(await Promise.race([remaining(), sleep(200).then(() => -1)])).toBe(-1); // Redis is really stopped
      for (const p of target.processes()) p.resume();
      if (outcome.ok) {
        // Resolved: then every match must be gone once Redis is back (the walk is replayed whole).
        await waitUntil(async () => (await remaining()) === 0 && cache.stats().pendingInvalidations === 0, { timeoutMs: 20_000, what: 'the journaled pattern to be replayed' });
      } else {
        expect(outcome.error).toBeInstanceOf(Error);
      }
      // What did not match is untouched (a Cluster whose nodes were all stopped may take a moment to agree again).
      await waitUntil(
        async () => {
          const keep = await cache.get('keep');
          if (a.connection.status() !== 'connected' || keep !== 'me') throw new Error(`status ${a.connection.status()}, keep ${String(keep)}`);
          return true;
        },
        { timeoutMs: 20_000, what: 'A back on Redis, keep intact' },
      );
    });

    // ---- hostile stored bytes ---------------------------------------------------------------

    it('a small compressed entry that inflates past maxValueBytes is a counted miss and is deleted', async () => {
      const prefix = `co${++prefixes}:`;
      // A 200 KB read on a loaded machine can outlast the default deadline; this test is about decoding.
      const { cache } = await instance(prefix, { maxValueBytes: 1024 * 1024 }, { commandTimeoutMs: 5_000 });
      const bomb = deflateRawSync(Buffer.from(JSON.stringify('a'.repeat(64 * 1024 * 1024))), { level: 9 }).toString('base64');
      expect(bomb.length).toBeLessThan(200_000);
      await admin.set(`${prefix}cache::bomb`, `~c1|jz|||${bomb}`);
      expect(await cache.get('bomb')).toBeUndefined();
      expect(cache.stats().corrupt).toBe(1);
      expect(await admin.exists(`${prefix}cache::bomb`)).toBe(0);
    });

    it('corrupt entries of every shape are counted misses and deleted, never a throw', async () => {
      const prefix = `co${++prefixes}:`;
      const { cache } = await instance(prefix);
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      const shapes: Record<string, string> = {
        map: '~c1|t|||{"$t":"M","v":1}',
        set: '~c1|t|||{"$t":"S","v":{"x":1}}',
        bigint: '~c1|t|||{"$t":"B","v":"1.5"}',
        buffer: '~c1|t|||{"$t":"X","v":{}}',
        unknownTag: '~c1|t|||{"$t":"Q","v":1}',
        truncated: '~c1|j|17',
        badExpiry: '~c1|j|soon||1',
        badTags: '~c1|j||nover|1',
        badFlags: '~c1|q|||1',
        badBase64: '~c1|jz|||%%%not base64%%%',
        notJson: '~c1|j|||{"a":',
        deepTyped: `~c1|t|||${deep}`,
        foreign: 'hello',
      };
      for (const [key, raw] of Object.entries(shapes)) await admin.set(`${prefix}cache::${key}`, raw);
      await admin.hset(`${prefix}cache::hash`, 'f', 'v'); // the wrong Redis type altogether
      const keys = [...Object.keys(shapes), 'hash'];
      for (const key of keys) expect(await cache.get(key)).toBeUndefined();
      expect(cache.stats().corrupt).toBe(keys.length);
      for (const key of keys) expect(await admin.exists(`${prefix}cache::${key}`)).toBe(0);
      // mget and getOrSet over corrupt bytes are misses too.
      await admin.set(`${prefix}cache::m1`, shapes.map!);
      expect(await cache.mget(['m1'])).toEqual([undefined]);
      await admin.set(`${prefix}cache::m2`, shapes.map!);
      expect(await cache.getOrSet('m2', () => 'fresh')).toBe('fresh');
    });

    // ---- loader deadline --------------------------------------------------------------------

    it("a hung loader on A does not hold B's getOrSet beyond the loader deadline", async () => {
      const { a, b } = await twoInstances({ loaderTimeout: '500ms', lockTimeout: '300ms' });
      const hung = a.cache.getOrSet('slow', () => new Promise<string>(() => undefined));
      const settledA = hung.then(
        () => 'resolved',
        (error: unknown) => error,
      );
      await sleep(50);
      const started = Date.now();
      const fromB = await Promise.race([b.cache.getOrSet('slow', () => 'fresh'), sleep(8_000).then(() => 'B still waiting')]);
      expect(fromB).toBe('fresh');
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(await Promise.race([settledA, sleep(5_000).then(() => 'A still waiting')])).toBeInstanceOf(CacheLoaderTimeoutError);
      expect(await a.cache.get('slow')).toBe('fresh');
    });

    // ---- glob and tag versions --------------------------------------------------------------

    it('a backtracking-hostile pattern completes promptly and matches what Redis matches', async () => {
      const prefix = `co${++prefixes}:`;
      const { cache } = await instance(prefix);
      await cache.set('a'.repeat(38), 1);
      // Ten a's then exactly one character cannot end this key: a backtracking matcher tries
      // C(36,10) ways to fail, for each of these ten keys (seconds per key before).
      for (const c of 'bcdefghijk') await cache.set(`${'a'.repeat(36)}b${c}`, 2);
      await cache.set('b', 3);
      const started = Date.now();
      const removed = await cache.invalidatePattern('*a*a*a*a*a*a*a*a*a*a?');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(removed).toBe(1);
      expect(await cache.get(`${'a'.repeat(36)}bk`)).toBe(2);
      expect(await cache.get('b')).toBe(3);
    });

    it('tag version keys expire no earlier than the longest entry that references them', async () => {
      const prefix = `co${++prefixes}:`;
      const { cache } = await instance(prefix);
      await cache.set('short', 1, { ttl: '10s', tags: ['t'] });
      const afterShort = await admin.pttl(`${prefix}cachetag::t`);
      expect(afterShort).toBeGreaterThan(0);
      expect(afterShort).toBeLessThanOrEqual(10_000);
      await cache.set('long', 2, { ttl: '1h', tags: ['t'] });
      expect(await admin.pttl(`${prefix}cachetag::t`)).toBeGreaterThan(3_500_000);
      await cache.set('short2', 3, { ttl: '10s', tags: ['t'] }); // never lowered
      expect(await admin.pttl(`${prefix}cachetag::t`)).toBeGreaterThan(3_500_000);
      await cache.invalidateTags(['t']);
      expect(await admin.pttl(`${prefix}cachetag::t`)).toBeGreaterThan(0);
      expect(await cache.get('long')).toBeUndefined();
      expect(await cache.getOrSet('g', () => 'v', { ttl: '2h', grace: '1h', tags: ['u'] })).toBe('v');
      expect(await admin.pttl(`${prefix}cachetag::u`)).toBeGreaterThan(3 * 3_600_000 - 60_000);
    });
  });
}

async function killPubSubClients(admin: Redis | Cluster): Promise<void> {
  const nodes: Redis[] = admin instanceof Cluster ? admin.nodes('master') : [admin];
  await Promise.all(nodes.map((n) => n.call('CLIENT', 'KILL', 'TYPE', 'pubsub')));
}

async function countKeys(admin: Redis | Cluster, match: string): Promise<number> {
  const nodes: Redis[] = admin instanceof Cluster ? admin.nodes('master') : [admin];
  let n = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      n += keys.length;
    } while (cursor !== '0');
  }
  return n;
}
