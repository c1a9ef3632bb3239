import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CollectionInputError, CollectionValueError } from '../../src/collections/collections.errors.js';
import { RedisCollections } from '../../src/collections/collections.service.js';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import type { EngineTarget } from '../redis-targets.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Names no tenant, collection or key should be able to escape or collide with. */
export const HOSTILE_NAMES = ['a:b', '*', '{x}', '..', '', 'x'.repeat(300), 'ünï🌍', 'a/b', '%41', 'A', '[ab]', '?', 'a\\*', ' ', '\n'];

/**
 * What a user of the collections sees, on one engine. Every test uses its own names, so targets
 * sharing a server do not see each other.
 */
export function runCollectionsBehaviour(label: string, open: () => Promise<EngineTarget>): void {
  describe(`collections: ${label}`, () => {
    let target: EngineTarget;
    let engine: StoreEngine;
    let c: RedisCollections;
    const fresh = () => `n${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      target = await open();
      engine = target.engine;
      c = new RedisCollections(engine);
    });
    afterAll(async () => {
      await target?.close();
    });

    it('a map behaves like an async Map, and Date, Map, Set and BigInt values survive', async () => {
      const m = c.map<unknown>(fresh());
      const value = { at: new Date('2026-01-02T03:04:05.678Z'), seen: new Map([['a', 1n]]), tags: new Set(['x']), n: 12345678901234567890n };
      expect(await m.get('missing')).toBeUndefined();
      await m.set('k1', value);
      await m.set(2, 'two');
      await m.set('a:{b}*', [1, 'é']);
      expect(await m.get('k1')).toEqual(value);
      expect(await m.get('2')).toBe('two');
      expect(await m.has('a:{b}*')).toBe(true);
      expect(await m.has('nope')).toBe(false);
      expect(await m.size()).toBe(3);
      expect((await m.entries()).map(([k]) => k).sort()).toEqual(['2', 'a:{b}*', 'k1']);
      expect(await m.getMany(['2', 'zz', 'k1'])).toEqual(['two', undefined, value]);
      expect(await m.delete('2')).toBe(true);
      expect(await m.delete('2')).toBe(false);
      const seen: string[] = [];
      for await (const [k] of m) seen.push(k);
      expect(seen.sort()).toEqual(['a:{b}*', 'k1']);
      await m.clear();
      expect(await m.size()).toBe(0);
    });

    it('setMany writes a batch, and with overwrite: false keeps what exists', async () => {
      const m = c.map<number>(fresh());
      expect(await m.setMany([['a', 1], ['b', 2]])).toBe(2);
      expect(await m.setMany([['a', 10], ['c', 3]], { overwrite: false })).toBe(1);
      expect(await m.getMany(['a', 'b', 'c'])).toEqual([1, 2, 3]);
      expect(await m.setMany(new Map([['a', 100]]))).toBe(1);
      expect(await m.get('a')).toBe(100);
    });

    it('a map with ttl keeps one key per entry, which expires on its own', async () => {
      const m = c.map<string>(fresh(), { ttl: 300 });
      await m.set('short', 'v');
      await m.setMany([['x:{y}', 'w'], ['z', 'q']]);
      expect(await m.setMany([['z', 'changed']], { overwrite: false })).toBe(0);
      expect(await m.get('x:{y}')).toBe('w');
      expect(await m.size()).toBe(3);
      expect((await m.entries()).sort()).toEqual([['short', 'v'], ['x:{y}', 'w'], ['z', 'q']]);
      await sleep(700);
      expect(await m.get('short')).toBeUndefined();
      expect(await m.size()).toBe(0);
      await m.set('again', 'v');
      await m.clear();
      expect(await m.has('again')).toBe(false);
    });

    it('a corrupt entry is reported as such, not read as missing', async () => {
      const name = fresh();
      const m = c.map<string>(name);
      await m.set('good', 'ok');
      await engine.hset(`col::map:{/${name}}`, { bad: '\u0000\u00ff garbage' });
      await expect(m.get('bad')).rejects.toBeInstanceOf(CollectionValueError);
      await expect(m.entries()).rejects.toThrow(/cannot be decoded/);
      expect(await m.get('good')).toBe('ok');
    });

    it('a set adds, checks and removes members', async () => {
      const s = c.set(fresh());
      expect(await s.add('a', 'b', 'a', 3)).toBe(3);
      expect(await s.has('a')).toBe(true);
      expect(await s.has(3)).toBe(true);
      expect(await s.delete('a', 'zz')).toBe(1);
      expect((await s.members()).sort()).toEqual(['3', 'b']);
      expect(await s.size()).toBe(2);
      await s.clear();
      expect(await s.size()).toBe(0);
    });

    it('a counter increments atomically and a windowed one starts again after its window', async () => {
      const plain = c.counter(fresh());
      const results = await Promise.all(Array.from({ length: 50 }, () => plain.incr()));
      expect(new Set(results).size).toBe(50);
      expect(await plain.get()).toBe(50);
      expect(await plain.decr(5)).toBe(45);
      expect(await plain.ttl()).toBe(-1);
      await plain.reset();
      expect(await plain.get()).toBe(0);
      await expect(plain.incr(1.5)).rejects.toBeInstanceOf(CollectionInputError);

      const windowed = c.counter(fresh(), { window: 300 });
      expect(await windowed.incr(2)).toBe(2);
      expect(await windowed.incr(3)).toBe(5);
      expect(await windowed.ttl()).toBeGreaterThan(0);
      await sleep(700);
      expect(await windowed.get()).toBe(0);
      expect(await windowed.incr()).toBe(1);
    });

    it('a capped list keeps the newest entries, newest first', async () => {
      const l = c.list<{ n: number; at: Date }>(fresh(), { cap: 3 });
      for (let n = 1; n <= 5; n++) await l.push({ n, at: new Date(n * 1000) });
      expect(await l.length()).toBe(3);
      expect((await l.range()).map((v) => v.n)).toEqual([5, 4, 3]);
      expect((await l.recent(2))[1]).toEqual({ n: 4, at: new Date(4000) });
      expect(await l.remove({ n: 4, at: new Date(4000) })).toBe(1);
      expect((await l.range()).map((v) => v.n)).toEqual([5, 3]);
      await l.clear();
      expect(await l.length()).toBe(0);
      expect(() => c.list('x', { cap: 0 })).toThrow(CollectionInputError);
    });

    it('a leaderboard ranks highest first, with top, rank and around', async () => {
      const b = c.leaderboard(fresh());
      await b.add({ alice: 10, bob: 20, carol: 30, dave: 20, erin: 5 });
      expect(await b.incr('alice', 15)).toBe(25);
      expect((await b.top(3)).map((e) => [e.rank, e.member, e.score])).toEqual([
        [1, 'carol', 30],
        [2, 'alice', 25],
        [3, 'dave', 20],
      ]);
      expect(await b.rank('carol')).toBe(1);
      expect(await b.rank('erin')).toBe(5);
      expect(await b.rank('ghost')).toBeNull();
      expect((await b.around('dave', 1)).map((e) => e.member)).toEqual(['alice', 'dave', 'bob']);
      expect((await b.around('carol', 1)).map((e) => e.rank)).toEqual([1, 2]);
      expect(await b.around('ghost')).toEqual([]);
      expect(await b.score('bob')).toBe(20);
      expect(await b.size()).toBe(5);
      expect(await b.remove('erin')).toBe(1);
      await expect(b.add({ x: NaN })).rejects.toBeInstanceOf(CollectionInputError);
    });

    it('tenants with hostile names never see or clear each other', async () => {
      const usable = HOSTILE_NAMES.filter((n) => n !== '' && n.length <= 256);
      const name = fresh();
      // Every tenant writes the same map, set, list, board and counter names.
      for (const tenant of usable) {
        await c.map<string>(name, { tenant }).set('k', tenant);
        await c.map<string>(name, { tenant, ttl: 60_000 }).set('k', tenant);
        await c.set(name, { tenant }).add(tenant);
        await c.leaderboard(name, { tenant }).add({ [tenant]: 1 });
        await c.counter(name, { tenant }).incr();
      }
      await c.map<string>(name).set('k', 'untenanted');
      for (const tenant of usable) {
        expect(await c.map<string>(name, { tenant }).get('k')).toBe(tenant);
        expect(await c.map<string>(name, { tenant }).size()).toBe(1);
        expect(await c.map<string>(name, { tenant, ttl: 60_000 }).size()).toBe(1);
        expect(await c.set(name, { tenant }).members()).toEqual([tenant]);
        expect(await c.counter(name, { tenant }).get()).toBe(1);
      }
      // Clearing the glob-looking tenants removes their own keys only.
      expect(await c.clearTenant('*')).toBeGreaterThanOrEqual(5);
      expect(await c.clearTenant('[ab]')).toBeGreaterThanOrEqual(5);
      expect(await c.map<string>(name, { tenant: '*' }).get('k')).toBeUndefined();
      for (const tenant of usable.filter((t) => t !== '*' && t !== '[ab]')) expect(await c.map<string>(name, { tenant }).get('k')).toBe(tenant);
      expect(await c.map<string>(name).get('k')).toBe('untenanted');
      for (const tenant of usable) await c.clearTenant(tenant);
      await c.map(name).clear();
    });

    it('refuses empty, over-long and malformed names with a clear error', () => {
      expect(() => c.map('', {})).toThrow(CollectionInputError);
      expect(() => c.map('m', { tenant: '' })).toThrow(/tenant must be a non-empty string/);
      expect(() => c.map('m', { tenant: 'x'.repeat(300) })).toThrow(/over 256/);
      expect(() => c.map('m', { tenant: '\ud800' })).toThrow(/well-formed/);
      expect(() => c.counter('m', { tenant: 5 as unknown as string })).toThrow(CollectionInputError);
      return expect(c.map('m').get('')).rejects.toBeInstanceOf(CollectionInputError);
    });
  });
}
