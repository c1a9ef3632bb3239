import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisCollections } from '../../src/collections/collections.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RedisUnavailableError } from '../../src/redis.errors.js';
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
});
