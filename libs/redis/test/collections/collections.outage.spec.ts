import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { CapturingLogger, Partition, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisCollections } from '../../src/collections/collections.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import type { FallbackEngine } from '../../src/engine/fallback.engine.js';
import type { ReplayRefused } from '../../src/engine/store-engine.types.js';
import { JournalFullError, RedisUnavailableError } from '../../src/redis.errors.js';
import { resolveRedisOptions } from '../../src/redis.options.js';

const DEADLINE_MS = 200;

/** Two app instances on one Redis, each with its own connection (breaker, fallback and journal). */
describe('collections while Redis is away', () => {
  let server: RedisProcess;
  const connections: RedisConnection[] = [];
  let prefixes = 0;

  const instance = async (prefix: string) => {
    const connection = new RedisConnection(
      resolveRedisOptions({ url: server.url, keyPrefix: prefix, commandTimeoutMs: DEADLINE_MS, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200 } }),
    );
    await connection.onModuleInit();
    connections.push(connection);
    return { connection, c: new RedisCollections(connection.engine) };
  };
  const pair = async () => {
    const prefix = `o${++prefixes}:`;
    return [await instance(prefix), await instance(prefix)] as const;
  };
  const connected = (...list: { connection: RedisConnection }[]) =>
    waitUntil(() => list.every((i) => i.connection.status() === 'connected' && i.connection.engine.mode() === 'redis'), { timeoutMs: 15_000, what: 'instances back on Redis' });

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    if (server?.paused) server.resume();
    for (const c of connections) await c.onApplicationShutdown();
    await server?.stop();
  });

  it('a counter burst through an outage: every reported increment counted once, none replayed', async () => {
    const [a, b] = await pair();
    const counter = a.c.counter('bookings', { tenant: 'org-1' });
    let ok = 0;
    let unknown = 0;
    let refused = 0;
    const burst = async (n: number) => {
      await Promise.all(
        Array.from({ length: n }, async () => {
          try {
            await counter.incr();
            ok++;
          } catch (error) {
            expect(error).toBeInstanceOf(RedisUnavailableError);
            // After a timeout Redis may still apply the command (it sat in a stopped server's socket).
            if (/did not answer/.test(String((error as Error).cause))) unknown++;
            else refused++;
          }
        }),
      );
    };
    await burst(20);
    server.pause();
    try {
      await burst(20);
      await waitUntil(() => a.connection.engine.mode() === 'fallback', { timeoutMs: 5_000, what: 'A on the fallback' });
      // With the breaker open, nothing is even attempted: a clean refusal, not a guess from memory.
      const before = refused;
      await burst(10);
      expect(refused - before).toBe(10);
      await expect(counter.get()).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      server.resume();
    }
    await connected(a, b);
    await burst(5);
    // Let any replay run, then read from the other instance.
    await new Promise((r) => setTimeout(r, 500));
    const total = await b.c.counter('bookings', { tenant: 'org-1' }).get();
    expect(total).toBeGreaterThanOrEqual(ok);
    expect(total).toBeLessThanOrEqual(ok + unknown);
    expect(ok + unknown + refused).toBe(55);
  });

  it('map, set and leaderboard writes made during the outage reach Redis on recovery; pushes and increments refuse', async () => {
    const [a, b] = await pair();
    const map = a.c.map<{ seats: number; at: Date }>('trips', { tenant: 'org-2' });
    await map.set('kept', { seats: 1, at: new Date(1) });
    await map.set('gone', { seats: 2, at: new Date(2) });
    server.pause();
    try {
      await map.set('during', { seats: 3, at: new Date(3) }).catch(() => undefined);
      await waitUntil(() => a.connection.engine.mode() === 'fallback', { timeoutMs: 5_000, what: 'A on the fallback' });
      await map.set('during', { seats: 3, at: new Date(3) });
      await map.delete('gone');
      await a.c.set('seen', { tenant: 'org-2' }).add('during');
      await a.c.leaderboard('top', { tenant: 'org-2' }).add({ during: 7 });
      // Served from this instance's memory: what it wrote during the outage.
      expect(await map.get('during')).toEqual({ seats: 3, at: new Date(3) });
      await expect(a.c.list('log', { tenant: 'org-2' }).push('x')).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(a.c.leaderboard('top', { tenant: 'org-2' }).incr('during')).rejects.toBeInstanceOf(RedisUnavailableError);
      // A `closed` collection does not answer from memory at all.
      await expect(a.c.map('trips', { tenant: 'org-2', whenUnavailable: 'closed' }).get('kept')).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(a.c.clearTenant('org-2')).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      server.resume();
    }
    await connected(a, b);
    const seenByB = b.c.map<{ seats: number; at: Date }>('trips', { tenant: 'org-2' });
    await waitUntil(async () => (await seenByB.get('during')) !== undefined, { timeoutMs: 10_000, what: 'the outage write on Redis' });
    expect(await seenByB.get('during')).toEqual({ seats: 3, at: new Date(3) });
    expect(await seenByB.get('gone')).toBeUndefined();
    expect(await seenByB.get('kept')).toEqual({ seats: 1, at: new Date(1) });
    expect(await b.c.set('seen', { tenant: 'org-2' }).members()).toEqual(['during']);
    expect(await b.c.leaderboard('top', { tenant: 'org-2' }).score('during')).toBe(7);
    expect(await b.c.list('log', { tenant: 'org-2' }).length()).toBe(0);
  });

  // ---- conflicts: A partitioned, B writes the same collection on Redis meanwhile ----------------

  const partitions: Partition[] = [];
  const logs = new CapturingLogger();
  beforeAll(() => Logger.overrideLogger(logs));
  afterAll(async () => {
    Logger.overrideLogger(new ConsoleLogger());
    for (const p of partitions) await p.cut();
  });

  /**
   * A reaches Redis through a hop that can be cut (a partition that only A sees); B connects
   * directly. `partitioned` cuts A off, runs `during` while A is on its fallback, heals, and waits
   * until A has replayed its journal and is back on Redis; it returns A's refused-replay reports.
   */
  const partitionedPair = async (breaker: { journalLimit?: number } = {}) => {
    const hop = await Partition.open(server.port);
    partitions.push(hop);
    const prefix = `p${++prefixes}:`;
    const connect = async (url: string) => {
      const connection = new RedisConnection(
        resolveRedisOptions({ url, keyPrefix: prefix, commandTimeoutMs: DEADLINE_MS, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200, ...breaker } }),
      );
      await connection.onModuleInit();
      connections.push(connection);
      return { connection, c: new RedisCollections(connection.engine) };
    };
    const a = await connect(hop.url);
    const b = await connect(server.url);
    const engineOf = (i: { connection: RedisConnection }) => i.connection.engine as FallbackEngine;
    const partitioned = async (during: () => Promise<void>) => {
      const reports: ReplayRefused[] = [];
      const off = engineOf(a).onReplayRefused((r) => reports.push(r));
      const refusedBefore = engineOf(a).stats().replayRefused;
      await hop.cut();
      try {
        await waitUntil(() => a.connection.engine.mode() === 'fallback', { timeoutMs: 10_000, what: 'A on its fallback' });
        await during();
      } finally {
        await hop.heal();
      }
      await waitUntil(() => a.connection.engine.mode() === 'redis' && engineOf(a).stats().journalSize === 0, { timeoutMs: 15_000, what: 'A back on Redis with its journal replayed' });
      off();
      return { reports, refused: engineOf(a).stats().replayRefused - refusedBefore };
    };
    return { a, b, partitioned };
  };

  it('map: B\'s set, B\'s delete and B\'s clear on Redis outlive A\'s outage writes to the same map (no lost write, no resurrection); refusals are reported, once each', async () => {
    const { a, b, partitioned } = await partitionedPair();
    const mapA = a.c.map<number>('prices');
    const mapB = b.c.map<number>('prices');
    await mapB.setMany([['k', 0], ['gone', 0], ['kept', 0]]);
    const clearedA = a.c.map<number>('cleared');
    await b.c.map<number>('cleared').setMany([['x', 1], ['y', 1]]);

    const { reports, refused } = await partitioned(async () => {
      await mapA.set('k', 1);
      await mapA.set('gone', 1);
      await mapA.delete('kept');
      await clearedA.set('x', 10);
      await clearedA.delete('y');
      // During the partition A reads what it wrote during the outage.
      expect(await mapA.get('k')).toBe(1);
      // B, still on Redis: a newer write, a delete, a clear.
      await mapB.set('k', 2);
      await mapB.delete('gone');
      await mapB.set('kept', 2);
      await b.c.map<number>('cleared').clear();
    });

    expect(await mapB.get('k')).toBe(2);
    expect(await mapB.get('gone')).toBeUndefined();
    expect(await mapB.get('kept')).toBe(2);
    expect(await b.c.map('cleared').size()).toBe(0);
    // A, back on Redis, reads the same.
    expect(await mapA.entries()).toEqual(expect.arrayContaining([['k', 2], ['kept', 2]]));
    expect(await mapA.size()).toBe(2);

    expect(refused).toBe(5);
    expect(reports).toHaveLength(5);
    for (const r of reports) expect(r).toMatchObject({ journal: 'durable', reason: 'CONFLICT', attempts: 1, outcome: 'dropped' });
    expect(reports.filter((r) => r.capability === 'collection map "prices"')).toHaveLength(3);
    expect(reports.filter((r) => r.capability === 'collection map "cleared"')).toHaveLength(2);
    expect(logs.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^warn 3 writes to map "prices" made during the outage were not replayed: another instance wrote it/),
        expect.stringMatching(/^warn 2 writes to map "cleared" made during the outage were not replayed/),
      ]),
    );
  });

  it('a map with per-entry TTL: B\'s newer entry survives A\'s replay', async () => {
    const { a, b, partitioned } = await partitionedPair();
    const mapA = a.c.map<string>('carts', { ttl: '1h', tenant: 't1' });
    const mapB = b.c.map<string>('carts', { ttl: '1h', tenant: 't1' });
    const { reports } = await partitioned(async () => {
      await mapA.set('u1', 'from A');
      await mapB.set('u1', 'from B');
    });
    expect(await mapB.get('u1')).toBe('from B');
    expect(reports.map((r) => r.capability)).toEqual(['collection map "carts" of tenant "t1"']);
  });

  it('set: B\'s delete and B\'s clear on Redis outlive A\'s outage adds', async () => {
    const { a, b, partitioned } = await partitionedPair();
    await b.c.set('online').add('x', 'y');
    await b.c.set('rooms').add('r1');
    const { reports } = await partitioned(async () => {
      await a.c.set('online').add('x', 'z');
      await a.c.set('rooms').add('r2');
      await b.c.set('online').delete('x');
      await b.c.set('rooms').clear();
    });
    expect((await b.c.set('online').members()).sort()).toEqual(['y']);
    expect(await b.c.set('rooms').members()).toEqual([]);
    expect(reports.map((r) => r.capability).sort()).toEqual(['collection set "online"', 'collection set "rooms"']);
  });

  it('leaderboard: B\'s remove on Redis outlives A\'s outage add, and A\'s outage remove does not undo B\'s add', async () => {
    const { a, b, partitioned } = await partitionedPair();
    await b.c.leaderboard('top').add({ p: 1 });
    const { refused } = await partitioned(async () => {
      await a.c.leaderboard('top').add({ p: 5 });
      await a.c.leaderboard('week').remove('q');
      await b.c.leaderboard('top').remove('p');
      await b.c.leaderboard('week').add({ q: 3 });
    });
    expect(await b.c.leaderboard('top').score('p')).toBeNull();
    expect(await b.c.leaderboard('week').score('q')).toBe(3);
    expect(refused).toBe(2);
  });

  it('clearTenant by B on Redis: A\'s outage writes to that tenant do not bring its data back; clearTenant counts data keys only', async () => {
    const { a, b, partitioned } = await partitionedPair();
    await b.c.map('m', { tenant: 'org' }).set('k', 1);
    await b.c.set('s', { tenant: 'org' }).add('x');
    const { refused } = await partitioned(async () => {
      await a.c.map('m', { tenant: 'org' }).set('k', 2);
      await a.c.set('s', { tenant: 'org' }).add('y');
      expect(await b.c.clearTenant('org')).toBe(2);
    });
    expect(await b.c.map('m', { tenant: 'org' }).size()).toBe(0);
    expect(await b.c.set('s', { tenant: 'org' }).members()).toEqual([]);
    expect(refused).toBe(2);
    // The markers that guard the tenant stay behind, but no walk of the tenant sees them.
    expect(await b.c.clearTenant('org')).toBe(0);
  });

  it('clearTenant by B on Redis: a collection of that tenant that only A created during its outage does not appear after it', async () => {
    const { a, b, partitioned } = await partitionedPair();
    await b.c.map('old', { tenant: 'gone' }).set('k', 1);
    await partitioned(async () => {
      await a.c.map('fresh', { tenant: 'gone' }).set('pii', 'secret');
      await a.c.set('fresh-set', { tenant: 'gone' }).add('pii');
      await a.c.map('elsewhere', { tenant: 'kept' }).set('k', 'v');
      await b.c.clearTenant('gone');
    });
    expect(await b.c.map('fresh', { tenant: 'gone' }).size()).toBe(0);
    expect(await b.c.set('fresh-set', { tenant: 'gone' }).members()).toEqual([]);
    expect(await b.c.map('old', { tenant: 'gone' }).size()).toBe(0);
    // Another tenant's outage writes are not caught by the clear.
    expect(await b.c.map('elsewhere', { tenant: 'kept' }).get('k')).toBe('v');
  });

  it('no conflict: A\'s outage writes to collections nobody else touched all land, in order, even right after A\'s own writes before the cut', async () => {
    const { a, b, partitioned } = await partitionedPair();
    const mapA = a.c.map<number>('solo');
    const ttlA = a.c.map<number>('solo-ttl', { ttl: '1h' });
    // A's own last writes before the partition are not conflicts with its replay.
    await mapA.set('k', 0);
    await a.c.set('tags').add('old');
    const { reports, refused } = await partitioned(async () => {
      await mapA.set('k', 1);
      await mapA.set('k', 2);
      await mapA.setMany([['a', 1], ['b', 1]]);
      await mapA.delete('a');
      await mapA.set('a', 3);
      await ttlA.set('t', 1);
      await ttlA.setMany([['t', 2], ['u', 2]]);
      await ttlA.delete('u');
      await a.c.set('tags').add('x', 'y');
      await a.c.set('tags').delete('old', 'x');
      await a.c.leaderboard('solo').add({ p: 1, q: 2 });
      await a.c.leaderboard('solo').add({ p: 4 });
      await a.c.leaderboard('solo').remove('q');
      // B works on other collections meanwhile: no effect on A's.
      await b.c.map('other').set('k', 'b');
    });
    expect(reports).toEqual([]);
    expect(refused).toBe(0);
    const mapB = b.c.map<number>('solo');
    expect(Object.fromEntries(await mapB.entries())).toEqual({ k: 2, a: 3, b: 1 });
    expect(Object.fromEntries(await b.c.map<number>('solo-ttl', { ttl: '1h' }).entries())).toEqual({ t: 2 });
    expect(await b.c.set('tags').members()).toEqual(['y']);
    expect(await b.c.leaderboard('solo').top(10)).toEqual([{ rank: 1, member: 'p', score: 4 }]);
  });

  it('a full journal refuses a collection write loudly (JournalFullError) rather than dropping it after saying yes', async () => {
    const { a, b, partitioned } = await partitionedPair({ journalLimit: 3 });
    const map = a.c.map<number>('bounded');
    await partitioned(async () => {
      for (let i = 0; i < 3; i++) await map.set(`k${i}`, i);
      await expect(map.set('k3', 3)).rejects.toBeInstanceOf(JournalFullError);
      expect(await map.get('k3')).toBeUndefined();
    });
    expect(Object.fromEntries(await b.c.map<number>('bounded').entries())).toEqual({ k0: 0, k1: 1, k2: 2 });
  });

  it('list: B\'s pushes on Redis outlive A\'s outage clear and remove; A\'s outage clear of a list nobody touched lands', async () => {
    const { a, b, partitioned } = await partitionedPair();
    await b.c.list<string>('feed').push('old', 'dup');
    // Written by A itself before the cut (a write by B this close to the cut would count as newer:
    // the outage start errs early).
    await a.c.list<string>('quiet').push('q');
    const { refused } = await partitioned(async () => {
      await a.c.list<string>('feed').clear();
      await a.c.list<string>('feed').remove('dup');
      await a.c.list<string>('quiet').clear();
      await b.c.list<string>('feed').push('dup', 'new');
    });
    expect(await b.c.list<string>('feed').range()).toEqual(['new', 'dup', 'dup', 'old']);
    expect(await b.c.list<string>('quiet').length()).toBe(0);
    expect(refused).toBe(2);
  });
});
