import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { escapeGlob } from '../../src/engine/glob.util.js';
import { COUNTER_INCR, LOCK_RELEASE } from '../../src/engine/scripts/engine.scripts.js';
import type { EngineMode, StoreEngine } from '../../src/engine/store-engine.port.js';
import { RedisUnavailableError } from '../../src/redis.errors.js';
import { scriptExamples } from '../scripts/script-cases.js';

export interface ContractTarget {
  engine: StoreEngine;
  /** What `mode()` must say for this target. */
  mode: EngineMode;
  /** Tears down whatever the target started. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One behaviour suite for every engine: the same inputs must give the same outputs on memory,
 * Redis standalone, Redis Cluster and the fallback engine with Redis up or down. Each test works
 * under its own random key space, so engines that share a server do not see each other's keys.
 */
export function runStoreEngineContract(name: string, open: () => Promise<ContractTarget>): void {
  describe(`StoreEngine contract: ${name}`, () => {
    let target: ContractTarget;
    let e: StoreEngine;
    let ns: string;
    const k = (key: string) => `${ns}:${key}`;

    beforeAll(async () => {
      target = await open();
      e = target.engine;
    });
    afterAll(async () => {
      await target?.close();
    });
    beforeEach(() => {
      ns = `t${randomUUID().slice(0, 8)}`;
    });

    describe('strings', () => {
      it('round-trips values exactly, including unicode and large values', async () => {
        const big = 'x'.repeat(512 * 1024);
        const text = 'héllo 🌍 \u0000 "quoted" \n newline';
        await expect(e.set(k('a'), text)).resolves.toBe(true);
        await e.set(k('big'), big);
        expect(await e.get(k('a'))).toBe(text);
        expect(await e.get(k('big'))).toBe(big);
        expect(await e.get(k('missing'))).toBeNull();
      });

      it('honours nx and xx', async () => {
        expect(await e.set(k('n'), '1', { nx: true })).toBe(true);
        expect(await e.set(k('n'), '2', { nx: true })).toBe(false);
        expect(await e.get(k('n'))).toBe('1');
        expect(await e.set(k('x'), '1', { xx: true })).toBe(false);
        expect(await e.get(k('x'))).toBeNull();
        expect(await e.set(k('n'), '3', { xx: true })).toBe(true);
        expect(await e.get(k('n'))).toBe('3');
      });

      it('expires values after their TTL and reports pttl', async () => {
        await e.set(k('t'), 'v', { ttlMs: 150 });
        await e.set(k('forever'), 'v');
        const ttl = await e.pttl(k('t'));
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(150);
        expect(await e.pttl(k('forever'))).toBe(-1);
        expect(await e.pttl(k('missing'))).toBe(-2);
        await sleep(250);
        expect(await e.get(k('t'))).toBeNull();
        expect(await e.exists(k('t'))).toBe(false);
        expect(await e.get(k('forever'))).toBe('v');
      });

      it('overwriting without a TTL clears the old TTL', async () => {
        await e.set(k('t'), 'a', { ttlMs: 10_000 });
        await e.set(k('t'), 'b');
        expect(await e.pttl(k('t'))).toBe(-1);
      });

      it('pexpire sets, and a non-positive TTL deletes', async () => {
        expect(await e.pexpire(k('none'), 1000)).toBe(false);
        await e.set(k('p'), 'v');
        expect(await e.pexpire(k('p'), 5000)).toBe(true);
        expect(await e.pttl(k('p'))).toBeGreaterThan(4000);
        expect(await e.pexpire(k('p'), 0)).toBe(true);
        expect(await e.exists(k('p'))).toBe(false);
      });

      it('mget and mset across many keys (several cluster slots), in order', async () => {
        const keys = Array.from({ length: 50 }, (_, i) => k(`m${i}`));
        await e.mset(keys.filter((_, i) => i % 2 === 0).map((key, i) => ({ key, value: `v${i}`, ttlMs: i === 0 ? 60_000 : undefined })));
        const values = await e.mget(keys);
        expect(values).toEqual(keys.map((_, i) => (i % 2 === 0 ? `v${i / 2}` : null)));
        expect(await e.pttl(keys[0]!)).toBeGreaterThan(0);
        expect(await e.pttl(keys[2]!)).toBe(-1);
        expect(await e.mget([])).toEqual([]);
      });

      it('del counts what existed, across slots', async () => {
        await e.mset([1, 2, 3].map((i) => ({ key: k(`d${i}`), value: 'v' })));
        expect(await e.del([k('d1'), k('d2'), k('d3'), k('d4')])).toBe(3);
        expect(await e.del([])).toBe(0);
        expect(await e.mget([k('d1'), k('d2')])).toEqual([null, null]);
      });

      it('incrBy counts, keeps the TTL and rejects non-integers', async () => {
        expect(await e.incrBy(k('c'), 5)).toBe(5);
        expect(await e.incrBy(k('c'), -2)).toBe(3);
        await e.pexpire(k('c'), 10_000);
        await e.incrBy(k('c'), 1);
        expect(await e.pttl(k('c'))).toBeGreaterThan(0);
        await e.set(k('s'), 'abc');
        await expect(e.incrBy(k('s'), 1)).rejects.toThrow(/not an integer/);
      });

      it('rejects an operation on the wrong type with WRONGTYPE', async () => {
        await e.hset(k('h'), { f: 'v' });
        await expect(e.get(k('h'))).rejects.toThrow(/WRONGTYPE/);
        await expect(e.sadd(k('h'), ['m'])).rejects.toThrow(/WRONGTYPE/);
      });
    });

    describe('hashes', () => {
      it('sets, reads and deletes fields; an emptied hash is gone', async () => {
        expect(await e.hset(k('h'), { a: '1', b: '2' })).toBe(2);
        expect(await e.hset(k('h'), { b: '3', c: '4' })).toBe(1);
        expect(await e.hget(k('h'), 'b')).toBe('3');
        expect(await e.hget(k('h'), 'zz')).toBeNull();
        expect(await e.hgetall(k('h'))).toEqual({ a: '1', b: '3', c: '4' });
        expect(await e.hgetall(k('none'))).toEqual({});
        expect(await e.hdel(k('h'), ['a', 'b', 'c', 'd'])).toBe(3);
        expect(await e.exists(k('h'))).toBe(false);
      });
    });

    describe('sets', () => {
      it('adds, checks and removes members', async () => {
        expect(await e.sadd(k('s'), ['a', 'b', 'a'])).toBe(2);
        expect(await e.sismember(k('s'), 'a')).toBe(true);
        expect(await e.sismember(k('s'), 'z')).toBe(false);
        expect((await e.smembers(k('s'))).sort()).toEqual(['a', 'b']);
        expect(await e.srem(k('s'), ['a', 'z'])).toBe(1);
        expect(await e.srem(k('s'), ['b'])).toBe(1);
        expect(await e.exists(k('s'))).toBe(false);
        expect(await e.smembers(k('none'))).toEqual([]);
      });
    });

    describe('sorted sets', () => {
      const board = async () => {
        await e.zadd(k('z'), [
          { member: 'carol', score: 30 },
          { member: 'alice', score: 10 },
          { member: 'bob', score: 20 },
          { member: 'dave', score: 20 },
        ]);
      };

      it('orders by score, then member, both ways', async () => {
        await board();
        expect(await e.zrange(k('z'), 0, -1)).toEqual([
          { member: 'alice', score: 10 },
          { member: 'bob', score: 20 },
          { member: 'dave', score: 20 },
          { member: 'carol', score: 30 },
        ]);
        expect((await e.zrange(k('z'), 0, 1, { reverse: true })).map((x) => x.member)).toEqual(['carol', 'dave']);
        expect((await e.zrange(k('z'), -2, -1)).map((x) => x.member)).toEqual(['dave', 'carol']);
        expect(await e.zrange(k('z'), 10, 20)).toEqual([]);
        expect(await e.zrange(k('none'), 0, -1)).toEqual([]);
      });

      it('updates scores, counts and removes by score', async () => {
        await board();
        expect(await e.zadd(k('z'), [{ member: 'alice', score: 5 }, { member: 'erin', score: 1.5 }])).toBe(1);
        expect(await e.zincrby(k('z'), 2.5, 'alice')).toBe(7.5);
        expect(await e.zincrby(k('z'), 1, 'new')).toBe(1);
        expect(await e.zscore(k('z'), 'alice')).toBe(7.5);
        expect(await e.zscore(k('z'), 'nobody')).toBeNull();
        expect(await e.zcard(k('z'))).toBe(6);
        expect(await e.zrangeByScore(k('z'), 2, 20)).toEqual([
          { member: 'alice', score: 7.5 },
          { member: 'bob', score: 20 },
          { member: 'dave', score: 20 },
        ]);
        expect((await e.zrangeByScore(k('z'), -Infinity, Infinity, { limit: 2 })).map((x) => x.member)).toEqual(['new', 'erin']);
        expect(await e.zremRangeByScore(k('z'), -Infinity, 7.5)).toBe(3);
        expect(await e.zrem(k('z'), ['bob', 'ghost'])).toBe(1);
        expect(await e.zcard(k('z'))).toBe(2);
      });
    });

    describe('lists, hash size and multi-field reads (collections)', () => {
      it('pushes on both ends in Redis order and reads ranges like LRANGE', async () => {
        expect(await e.rpush(k('l'), ['a', 'b'])).toBe(2);
        expect(await e.lpush(k('l'), ['y', 'z'])).toBe(4);
        expect(await e.lrange(k('l'), 0, -1)).toEqual(['z', 'y', 'a', 'b']);
        expect(await e.lrange(k('l'), -2, -1)).toEqual(['a', 'b']);
        expect(await e.lrange(k('l'), 1, 100)).toEqual(['y', 'a', 'b']);
        expect(await e.lrange(k('l'), 3, 1)).toEqual([]);
        expect(await e.lrange(k('l'), -100, 0)).toEqual(['z']);
        expect(await e.lrange(k('none'), 0, -1)).toEqual([]);
        expect(await e.llen(k('l'))).toBe(4);
        expect(await e.llen(k('none'))).toBe(0);
      });

      it('caps a push to the newest entries on the side pushed to', async () => {
        for (let i = 1; i <= 5; i++) expect(await e.lpush(k('recent'), [`v${i}`], { cap: 3 })).toBe(Math.min(i, 3));
        expect(await e.lrange(k('recent'), 0, -1)).toEqual(['v5', 'v4', 'v3']);
        expect(await e.rpush(k('log'), ['1', '2', '3', '4'], { cap: 2 })).toBe(2);
        expect(await e.lrange(k('log'), 0, -1)).toEqual(['3', '4']);
        expect(await e.lpush(k('big'), ['a', 'b', 'c'], { cap: 1 })).toBe(1);
        expect(await e.lrange(k('big'), 0, -1)).toEqual(['c']);
      });

      it('trims and removes like LTRIM and LREM; an emptied list is gone', async () => {
        await e.rpush(k('l'), ['x', 'a', 'x', 'b', 'x']);
        expect(await e.lrem(k('l'), 1, 'x')).toBe(1);
        expect(await e.lrange(k('l'), 0, -1)).toEqual(['a', 'x', 'b', 'x']);
        expect(await e.lrem(k('l'), -1, 'x')).toBe(1);
        expect(await e.lrange(k('l'), 0, -1)).toEqual(['a', 'x', 'b']);
        expect(await e.lrem(k('l'), 0, 'nothing')).toBe(0);
        await e.rpush(k('l'), ['x']);
        expect(await e.lrem(k('l'), 0, 'x')).toBe(2);
        await e.ltrim(k('l'), 1, -1);
        expect(await e.lrange(k('l'), 0, -1)).toEqual(['b']);
        await e.ltrim(k('l'), 5, 10);
        expect(await e.exists(k('l'))).toBe(false);
        expect(await e.lrem(k('none'), 0, 'x')).toBe(0);
        await e.ltrim(k('none'), 0, 1);
        expect(await e.exists(k('none'))).toBe(false);
      });

      it('refuses list operations on a key of another type, as Redis does', async () => {
        await e.set(k('s'), 'v');
        await expect(e.rpush(k('s'), ['a'])).rejects.toThrow(/WRONGTYPE/);
        await expect(e.lrange(k('s'), 0, -1)).rejects.toThrow(/WRONGTYPE/);
        await expect(e.hlen(k('s'))).rejects.toThrow(/WRONGTYPE/);
      });

      it('ranks members both ways, ties ordered as Redis orders them', async () => {
        await e.zadd(k('z'), [
          { member: 'carol', score: 30 },
          { member: 'alice', score: 10 },
          { member: 'bob', score: 20 },
          { member: 'dave', score: 20 },
        ]);
        expect(await e.zrank(k('z'), 'alice')).toBe(0);
        expect(await e.zrank(k('z'), 'dave')).toBe(2);
        expect(await e.zrank(k('z'), 'carol', { reverse: true })).toBe(0);
        expect(await e.zrank(k('z'), 'dave', { reverse: true })).toBe(1);
        expect(await e.zrank(k('z'), 'bob', { reverse: true })).toBe(2);
        expect(await e.zrank(k('z'), 'ghost')).toBeNull();
        expect(await e.zrank(k('none'), 'x', { reverse: true })).toBeNull();
      });

      it('counts hash fields and reads several in one call', async () => {
        await e.hset(k('h'), { a: '1', b: '2', 'c:{x}*': 'é' });
        expect(await e.hlen(k('h'))).toBe(3);
        expect(await e.hlen(k('none'))).toBe(0);
        expect(await e.hmget(k('h'), ['a', 'zz', 'c:{x}*'])).toEqual(['1', null, 'é']);
        expect(await e.hmget(k('none'), ['a', 'b'])).toEqual([null, null]);
        expect(await e.hmget(k('h'), [])).toEqual([]);
      });
    });

    describe('streams (message history)', () => {
      const ids = (entries: { id: string }[]) => entries.map((x) => x.id);
      const after = (a: string, b: string) => {
        const [am, as] = a.split('-').map(Number) as [number, number];
        const [bm, bs] = b.split('-').map(Number) as [number, number];
        return am > bm || (am === bm && as > bs);
      };

      it('appends with ids the store makes, strictly increasing, and reads them back like XRANGE and XREVRANGE', async () => {
        const added: string[] = [];
        for (let i = 0; i < 30; i++) added.push(await e.xadd(k('s'), { n: String(i), text: 'héllo 🌍 {x}*' }));
        for (const id of added) expect(id).toMatch(/^\d+-\d+$/);
        for (let i = 1; i < added.length; i++) expect(after(added[i]!, added[i - 1]!)).toBe(true);
        expect(Math.abs(Number(added[0]!.split('-')[0]) - Date.now())).toBeLessThan(5_000);
        expect(await e.xlen(k('s'))).toBe(30);
        const all = await e.xrange(k('s'), '-', '+');
        expect(ids(all)).toEqual(added);
        expect(all[3]).toEqual({ id: added[3], fields: { n: '3', text: 'héllo 🌍 {x}*' } });
        expect(ids(await e.xrange(k('s'), '-', '+', { count: 2 }))).toEqual(added.slice(0, 2));
        expect(ids(await e.xrevrange(k('s'), '+', '-', { count: 3 }))).toEqual(added.slice(-3).reverse());
        expect(ids(await e.xrevrange(k('s'), '+', '-'))).toEqual([...added].reverse());
        expect(await e.xrange(k('none'), '-', '+')).toEqual([]);
        expect(await e.xrevrange(k('none'), '+', '-', { count: 5 })).toEqual([]);
        expect(await e.xlen(k('none'))).toBe(0);
      });

      it('reads "since an id" with exclusive bounds, milliseconds alone and counts, as Redis parses them', async () => {
        const added: string[] = [];
        for (let i = 0; i < 6; i++) added.push(await e.xadd(k('s'), { n: String(i) }));
        expect(ids(await e.xrange(k('s'), `(${added[1]}`, '+'))).toEqual(added.slice(2));
        expect(ids(await e.xrange(k('s'), `(${added[1]}`, '+', { count: 2 }))).toEqual(added.slice(2, 4));
        expect(ids(await e.xrange(k('s'), added[1]!, added[3]!))).toEqual(added.slice(1, 4));
        expect(ids(await e.xrange(k('s'), `(${added[1]}`, `(${added[3]}`))).toEqual([added[2]]);
        expect(ids(await e.xrevrange(k('s'), `(${added[4]}`, `(${added[1]}`))).toEqual([added[3], added[2]]);
        expect(ids(await e.xrange(k('s'), `(${added[5]}`, '+'))).toEqual([]);
        expect(ids(await e.xrange(k('s'), added[3]!, added[1]!))).toEqual([]);
        expect(ids(await e.xrange(k('s'), '(0-0', '+'))).toEqual(added);
        // A millisecond alone: every sequence number of that millisecond.
        const ms = added[0]!.split('-')[0]!;
        const sameMs = added.filter((id) => id.startsWith(`${ms}-`));
        expect(ids(await e.xrange(k('s'), ms, ms))).toEqual(sameMs);
        // As a high bound `<ms>` means `<ms>-<max>`: excluding it still leaves that millisecond in.
        expect(ids(await e.xrange(k('s'), '-', `(${ms}`))).toEqual(sameMs);
        expect(ids(await e.xrange(k('s'), '-', `(${ms}-0`))).toEqual([]);
        expect(ids(await e.xrange(k('s'), `${Number(ms) + 100_000}`, '+'))).toEqual([]);
        for (const bad of ['abc', '1-x', '-1', '1-2-3', '', '(']) await expect(e.xrange(k('s'), bad, '+')).rejects.toThrow(/Invalid stream ID/);
        await expect(e.xrevrange(k('s'), 'nope', '-')).rejects.toThrow(/Invalid stream ID/);
      });

      it('trims exactly to the newest maxLen entries; a trimmed stream keeps giving higher ids', async () => {
        const added: string[] = [];
        for (let i = 0; i < 8; i++) added.push(await e.xadd(k('capped'), { n: String(i) }, { maxLen: 3 }));
        expect(await e.xlen(k('capped'))).toBe(3);
        expect((await e.xrange(k('capped'), '-', '+')).map((x) => x.fields.n)).toEqual(['5', '6', '7']);
        expect(ids(await e.xrange(k('capped'), '-', '+'))).toEqual(added.slice(-3));
        const next = await e.xadd(k('capped'), { n: '8' }, { maxLen: 1 });
        expect(after(next, added[7]!)).toBe(true);
        expect(await e.xrange(k('capped'), '-', '+')).toEqual([{ id: next, fields: { n: '8' } }]);
        // Without maxLen nothing is trimmed.
        await e.xadd(k('capped'), { n: '9' });
        expect(await e.xlen(k('capped'))).toBe(2);
      });

      it('refuses stream operations on a key of another type, as Redis does', async () => {
        await e.set(k('str'), 'v');
        await expect(e.xadd(k('str'), { a: '1' })).rejects.toThrow(/WRONGTYPE/);
        await expect(e.xrange(k('str'), '-', '+')).rejects.toThrow(/WRONGTYPE/);
        await expect(e.xrevrange(k('str'), '+', '-')).rejects.toThrow(/WRONGTYPE/);
        await expect(e.xlen(k('str'))).rejects.toThrow(/WRONGTYPE/);
        await e.xadd(k('st'), { a: '1' });
        await expect(e.get(k('st'))).rejects.toThrow(/WRONGTYPE/);
        expect(await e.exists(k('st'))).toBe(true);
      });
    });

    describe('scan', () => {
      it('finds exactly the keys matching a glob, in batches', async () => {
        const keys = Array.from({ length: 120 }, (_, i) => k(`user:${i}`));
        await e.mset(keys.map((key) => ({ key, value: '1' })));
        await e.set(k('other:1'), '1');
        const seen = new Set<string>();
        for await (const batch of e.scan(`${escapeGlob(ns)}:user:*`, { count: 10 })) for (const key of batch) seen.add(key);
        expect([...seen].sort()).toEqual([...keys].sort());
      });

      it('treats escaped glob characters in user data literally', async () => {
        const hostile = ['a*', 'a?', '[ab]', '{x}', 'back\\slash', '..'];
        for (const h of hostile) await e.set(k(`${h}:key`), h);
        await e.set(k('ab:key'), 'decoy');
        for (const h of hostile) {
          const found: string[] = [];
          for await (const batch of e.scan(`${escapeGlob(k(h))}:*`)) found.push(...batch);
          expect([...new Set(found)]).toEqual([k(`${h}:key`)]);
        }
      });
    });

    describe('scripts', () => {
      // The exact examples of every script (script-cases.ts), on every engine.
      for (const [title, example] of scriptExamples()) it(title, () => example(e, k));

      it('refuses a call with the wrong number of keys', async () => {
        await expect(e.runScript(LOCK_RELEASE, [], ['x'])).rejects.toThrow(/takes 1 keys/);
      });
    });

    describe('clock and liveness', () => {
      it('reads the store clock in milliseconds', async () => {
        const t = await e.time();
        expect(Math.abs(t - Date.now())).toBeLessThan(5_000);
      });
    });

    describe('pub/sub', () => {
      it('delivers to channel and pattern subscribers, and stops after unsubscribe', async () => {
        const got: string[] = [];
        const off1 = await e.subscribe(k('news'), (m, ch) => got.push(`direct:${ch === k('news')}:${m}`));
        const off2 = await e.psubscribe(`${escapeGlob(ns)}:ne*`, (m, ch, p) => got.push(`pattern:${ch === k('news')}:${p === `${ns}:ne*`}:${m}`));
        // A throwing handler must not stop delivery to the others.
        const off3 = await e.subscribe(k('news'), () => {
          throw new Error('bad handler');
        });
        await e.publish(k('news'), 'hello');
        await waitFor(() => got.length >= 2);
        expect(got.sort()).toEqual(['direct:true:hello', 'pattern:true:true:hello']);
        await off1();
        await off2();
        await off3();
        await e.publish(k('news'), 'after');
        await sleep(100);
        expect(got).toHaveLength(2);
      });
    });

    describe('clear', () => {
      it('removes every key of the engine, or refuses while Redis is away (never journaled)', async () => {
        await e.mset([{ key: k('c1'), value: '1' }, { key: k('c2'), value: '2' }]);
        await e.hset(k('c3'), { f: 'v' });
        if (target.mode === 'fallback') {
          await expect(e.clear()).rejects.toBeInstanceOf(RedisUnavailableError);
          expect(await e.get(k('c1'))).toBe('1');
          return;
        }
        await e.clear();
        const left: string[] = [];
        for await (const batch of e.scan('*')) left.push(...batch);
        expect(left).toEqual([]);
      });
    });

    describe('where it serves from', () => {
      it('mode() says where the next command is served from', () => {
        expect(e.mode()).toBe(target.mode);
      });

      it('{ fallback: false } answers from Redis or the embedded store, and rejects rather than answer from the fallback', async () => {
        const key = k('strict');
        if (target.mode === 'fallback') {
          await expect(e.set(key, 'v', { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          await expect(e.get(key, { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          await expect(e.exists(key, { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          await expect(e.runScript(COUNTER_INCR, [key], [1, 0], { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          // Without the option the fallback answers.
          expect(await e.set(key, 'v')).toBe(true);
          expect(await e.get(key)).toBe('v');
          return;
        }
        expect(await e.set(key, 'v', { fallback: false })).toBe(true);
        expect(await e.get(key, { fallback: false })).toBe('v');
        expect(await e.exists(key, { fallback: false })).toBe(true);
        expect(await e.mget([key, k('none')], { fallback: false })).toEqual(['v', null]);
      });

      it('{ fallback: false } on stream operations: Redis or the embedded store answers, the fallback does not', async () => {
        const key = k('strict-stream');
        if (target.mode === 'fallback') {
          await expect(e.xadd(key, { a: '1' }, { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          await expect(e.xrange(key, '-', '+', { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          await expect(e.xrevrange(key, '+', '-', { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          await expect(e.xlen(key, { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
          // Without the option the fallback answers.
          const id = await e.xadd(key, { a: '1' });
          expect(await e.xrange(key, '-', '+')).toEqual([{ id, fields: { a: '1' } }]);
          return;
        }
        const id = await e.xadd(key, { a: '1' }, { maxLen: 10, fallback: false });
        expect(await e.xrange(key, '-', '+', { fallback: false })).toEqual([{ id, fields: { a: '1' } }]);
        expect(await e.xrevrange(key, '+', '-', { count: 1, fallback: false })).toEqual([{ id, fields: { a: '1' } }]);
        expect(await e.xlen(key, { fallback: false })).toBe(1);
      });

      it('has no refused security writes in steady state', () => {
        expect(e.refusedWrites('session')).toBe(0);
      });
    });
  });
}

export async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}
