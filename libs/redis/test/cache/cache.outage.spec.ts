import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { waitUntil } from '@nestjs-redis-kit/test-support';
import { cacheFactory, type OpenCache } from './cache.behaviour.js';

const DEADLINE_MS = 200;

describe('cache invalidations made while Redis is away (two app instances, one Redis)', () => {
  let server: RedisProcess;
  const factory = cacheFactory({ label: 'outage', options: () => ({ url: server.url }), shared: true });
  const open = (prefix: string, extra: object = {}) =>
    factory.open({ l1: { maxEntries: 1_000 } }, prefix, { commandTimeoutMs: DEADLINE_MS, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200 }, ...extra });
  const bothOn = async (a: OpenCache, b: OpenCache, status: string) =>
    waitUntil(() => a.connection.status() === status && b.connection.status() === status, { timeoutMs: 10_000, what: `both instances ${status}` });

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await factory.closeAll();
    if (server?.paused) server.resume();
    await server?.stop();
  });

  it('del, invalidateTags, invalidatePattern and clear made during the outage hold on both instances after it', async () => {
    const prefix = factory.newPrefix();
    const a = await open(prefix);
    const b = await open(prefix);
    const ns = 'tenant-1';
    await a.cache.mset([
      { key: 'k1', value: 'v1' },
      { key: 'k2', value: 'v2', tags: ['t'] },
      { key: 'user:1', value: 'u1' },
      { key: 'user:2', value: 'u2' },
      { key: 'keep', value: 'kept' },
    ]);
    await a.cache.namespace(ns).set('n1', 'in-namespace');
    // B has read everything (and holds it in its L1).
    expect(await b.cache.mget(['k1', 'k2', 'user:1', 'user:2', 'keep'])).toEqual(['v1', 'v2', 'u1', 'u2', 'kept']);
    expect(await b.cache.namespace(ns).get('n1')).toBe('in-namespace');

    server.pause();
    try {
      // Every call keeps working (from memory) within a few deadlines.
      const started = performance.now();
      await a.cache.del('k1');
      await a.cache.invalidateTags(['t']);
      await a.cache.invalidatePattern('user:*');
      await a.cache.namespace(ns).clear();
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS * 5 * 4);
      await waitUntil(() => a.connection.status() === 'memory-fallback', { timeoutMs: 5_000, what: 'A on memory' });
      expect(a.cache.stats().pendingInvalidations).toBe(2);
      // While away, B keeps answering.
      expect(await b.cache.getOrSet('during', async () => 'fresh')).toBe('fresh');
    } finally {
      server.resume();
    }
    await bothOn(a, b, 'connected');
    // A re-applies the pattern and clear to Redis when it returns (its own reads wait for that), then
    // re-sends the L1 evictions B missed.
    expect(await a.cache.get('user:1')).toBeUndefined();
    await waitUntil(() => a.cache.stats().pendingInvalidations === 0, { timeoutMs: 5_000, what: 'the pattern replay' });

    for (const instance of [a, b]) {
      expect(await instance.cache.mget(['k1', 'k2', 'user:1', 'user:2', 'keep'])).toEqual([undefined, undefined, undefined, undefined, 'kept']);
      expect(await instance.cache.namespace(ns).get('n1')).toBeUndefined();
    }
  });

  it('when the replay journal overflowed, the namespaces invalidated during the outage are cleared', async () => {
    const prefix = factory.newPrefix();
    const a = await open(prefix, { breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200, journalLimit: 2 } });
    const b = await open(prefix);
    const hit = a.cache.namespace('hit');
    const spared = a.cache.namespace('spared');
    await hit.mset(Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: i })));
    await spared.set('s', 'safe');

    server.pause();
    try {
      // Six deletes, room for two in the journal: four would be lost without the wider measure.
      for (let i = 0; i < 6; i++) await hit.del(`k${i}`);
      await waitUntil(() => a.connection.status() === 'memory-fallback', { timeoutMs: 5_000, what: 'A on memory' });
    } finally {
      server.resume();
    }
    await bothOn(a, b, 'connected');
    const bHit = b.cache.namespace('hit');
    await waitUntil(async () => (await bHit.mget(['k0', 'k1', 'k2', 'k3', 'k4', 'k5'])).every((v) => v === undefined), {
      timeoutMs: 5_000,
      what: 'the overflowed namespace to be cleared',
    });
    expect(await b.cache.namespace('spared').get('s')).toBe('safe');
  });

  it('when the journal overflowed with sets made during the outage, no instance serves the values they replaced', async () => {
    const prefix = factory.newPrefix();
    const a = await open(prefix, { breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200, journalLimit: 2 } });
    const b = await open(prefix);
    const prices = a.cache.namespace('prices');
    await prices.mset(Array.from({ length: 6 }, (_, i) => ({ key: `p${i}`, value: 'old' })));
    await b.cache.namespace('spared').set('s', 'safe');

    server.pause();
    try {
      // Six new values, room for two in the journal (a set is replayed as a delete of the old value).
      for (let i = 0; i < 6; i++) await prices.set(`p${i}`, 'new');
      await waitUntil(() => a.connection.status() === 'memory-fallback', { timeoutMs: 5_000, what: 'A on memory' });
    } finally {
      server.resume();
    }
    await bothOn(a, b, 'connected');
    const bPrices = b.cache.namespace('prices');
    await waitUntil(async () => (await bPrices.mget(['p0', 'p1', 'p2', 'p3', 'p4', 'p5'])).every((v) => v !== 'old'), {
      timeoutMs: 5_000,
      what: 'no replaced value served',
    });
    for (let i = 0; i < 6; i++) expect(await prices.get(`p${i}`)).not.toBe('old');
    expect(await b.cache.namespace('spared').get('s')).toBe('safe');
  });
});
