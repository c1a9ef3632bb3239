import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { waitUntil } from '@nestjs-redis-kit/test-support';

const DEADLINE_MS = 200;

async function connect(url: string, extra: { fallback?: 'memory' | 'none' } = {}) {
  const connection = new RedisConnection(resolveRedisOptions({ url, commandTimeoutMs: DEADLINE_MS, keyPrefix: 'fault:', ...extra }));
  await connection.onModuleInit();
  return connection;
}

/** Fires `count` mixed operations at once; resolves with how each settled and the slowest one. */
async function burst(connection: RedisConnection, count: number, tag: string) {
  const started = performance.now();
  let slowest = 0;
  const ops = Array.from({ length: count }, (_, i) => {
    const t0 = performance.now();
    const op =
      i % 3 === 0 ? connection.engine.set(`${tag}:${i}`, String(i)) : i % 3 === 1 ? connection.engine.get(`${tag}:${i - 1}`) : connection.engine.incrBy(`${tag}:counter`, 1);
    return op.finally(() => (slowest = Math.max(slowest, performance.now() - t0)));
  });
  const settled = await Promise.allSettled(ops);
  return { settled, slowest, total: performance.now() - started };
}

describe('standalone Redis faults, as the application sees them', () => {
  let server: RedisProcess;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('Redis killed under 1,000 in-flight operations: every one settles, the app switches to memory and back', async () => {
    const connection = await connect(server.url);
    try {
      expect(connection.status()).toBe('connected');
      const statuses: string[] = [];
      connection.on('status', (s) => statuses.push(s));

      const inFlight = burst(connection, 1_000, 'kill');
      await server.kill();
      const { settled, slowest } = await inFlight;

      expect(settled).toHaveLength(1_000);
      // With the memory fallback, nobody sees an error: the answer comes from Redis or from memory.
      expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
      // No operation waited on the dead server beyond a small multiple of the deadline.
      expect(slowest).toBeLessThan(DEADLINE_MS * 5);
      await waitUntil(() => connection.status() === 'memory-fallback', { timeoutMs: 5_000, what: 'memory-fallback status' });

      // While Redis is away the app keeps serving.
      const during = await burst(connection, 300, 'during');
      expect(during.settled.every((s) => s.status === 'fulfilled')).toBe(true);

      await server.start();
      await waitUntil(() => connection.status() === 'connected', { timeoutMs: 10_000, what: 'connected status after restart' });
      expect(statuses).toEqual(['memory-fallback', 'connected']);
      await connection.engine.set('after', 'restart');
      const direct = new Redis(server.url);
      expect(await direct.get('fault:after')).toBe('restart');
      direct.disconnect();
    } finally {
      await connection.onApplicationShutdown();
    }
  });

  it('Redis frozen with SIGSTOP: operations settle within a small multiple of the deadline, then recover on SIGCONT', async () => {
    const connection = await connect(server.url);
    try {
      await connection.engine.set('before', 'freeze');
      server.pause();
      const { settled, slowest } = await burst(connection, 500, 'frozen');
      expect(settled.every((s) => s.status === 'fulfilled')).toBe(true);
      expect(slowest).toBeLessThan(DEADLINE_MS * 5);
      expect(connection.status()).toBe('memory-fallback');
      server.resume();
      await waitUntil(() => connection.status() === 'connected', { timeoutMs: 10_000, what: 'connected after SIGCONT' });
      expect(await connection.engine.get('before')).toBe('freeze');
    } finally {
      server.resume();
      await connection.onApplicationShutdown();
    }
  });

  it('writes marked for replay during an outage reach Redis on recovery, in order', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await a.engine.set('doc', 'v1');
      await a.engine.set('stale', 'old value');
      server.pause();
      // Instance A, cut off, invalidates and writes; the writes must not be lost.
      await a.engine.del(['stale'], { replayOnRecovery: true });
      await a.engine.set('doc', 'v2', { replayOnRecovery: true });
      await a.engine.set('doc', 'v3', { replayOnRecovery: true });
      await a.engine.set('scratch', 'memory only');
      expect(a.status()).toBe('memory-fallback');
      server.resume();
      await waitUntil(() => a.status() === 'connected', { timeoutMs: 10_000, what: 'A reconnected' });
      await waitUntil(() => b.status() === 'connected', { timeoutMs: 10_000, what: 'B reconnected' });
      // Instance B, which never saw the outage writes, reads what A did.
      expect(await b.engine.get('stale')).toBeNull();
      expect(await b.engine.get('doc')).toBe('v3');
      expect(await b.engine.get('scratch')).toBeNull();
    } finally {
      server.resume();
      await a.onApplicationShutdown();
      await b.onApplicationShutdown();
    }
  });

  it("with fallback 'none', operations fail fast with a clear error and succeed again after recovery", async () => {
    const connection = await connect(server.url, { fallback: 'none' });
    try {
      await server.kill();
      const { settled, slowest } = await burst(connection, 200, 'none');
      expect(settled.every((s) => s.status === 'rejected')).toBe(true);
      expect(slowest).toBeLessThan(DEADLINE_MS * 5);
      const reasons = new Set(settled.map((s) => (s as PromiseRejectedResult).reason.code));
      expect([...reasons]).toEqual(['E_REDIS_UNAVAILABLE']);
      await waitUntil(() => connection.status() === 'disconnected', { timeoutMs: 5_000, what: 'disconnected status' });
      await server.start();
      await waitUntil(() => connection.status() === 'connected', { timeoutMs: 10_000, what: 'connected after restart' });
      await expect(connection.engine.set('back', '1')).resolves.toBe(true);
    } finally {
      await connection.onApplicationShutdown();
    }
  });
});
