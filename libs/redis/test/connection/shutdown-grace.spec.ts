import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Partition, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisCollections } from '../../src/collections/collections.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import type { FallbackEngine } from '../../src/engine/fallback.engine.js';
import { resolveRedisOptions } from '../../src/redis.options.js';

/*
 * Shutdown waits (up to breaker.shutdownGraceMs) for the writes made while Redis was away. Writes
 * the replay has taken out of the journal but Redis has not taken yet (in a batch, or waiting
 * between retries of a refusal) are still unwritten: shutdown must wait for them too.
 */
describe('shutdown grace while the replay is under way', () => {
  let server: RedisProcess;
  let raw: Redis;
  const partitions: Partition[] = [];
  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    raw?.disconnect();
    for (const p of partitions) await p.cut();
    await server?.stop();
  });

  it('writes Redis refused once (out of memory) and waiting for their retry are waited for, and land', async () => {
    const hop = await Partition.open(server.port);
    partitions.push(hop);
    const a = new RedisConnection(
      resolveRedisOptions({ url: hop.url, keyPrefix: 'sg1:', commandTimeoutMs: 200, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200, replayAttempts: 6, replayRetryMs: 200, shutdownGraceMs: 10_000 } }),
    );
    await a.onModuleInit();
    const map = new RedisCollections(a.engine).map<number>('orders');
    await hop.cut();
    await waitUntil(async () => (await map.set('k0', 0).catch(() => undefined), a.engine.mode() === 'fallback'), { timeoutMs: 10_000, what: 'A on its fallback' });
    for (let i = 0; i < 5; i++) await map.set(`k${i}`, i);
    await raw.config('SET', 'maxmemory-policy', 'noeviction');
    await raw.config('SET', 'maxmemory', '1');
    try {
      await hop.heal();
      // The replay has started: the journal handed its writes over, and Redis refused them.
      await waitUntil(() => (a.engine as FallbackEngine).stats().journalSize === 0, { timeoutMs: 10_000, what: 'the replay under way' });
      const closing = a.onApplicationShutdown();
      await new Promise((r) => setTimeout(r, 300));
      await raw.config('SET', 'maxmemory', '0');
      await closing;
    } finally {
      await raw.config('SET', 'maxmemory', '0');
    }
    expect(await raw.hlen('sg1:col::map:{/orders}')).toBe(5);
  });
});

describe('shutdown called twice', () => {
  let server: RedisProcess;
  const partitions: Partition[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const p of partitions) await p.cut();
    await server?.stop();
  });

  it('the second call resolves only once the connection is closed', async () => {
    const hop = await Partition.open(server.port);
    partitions.push(hop);
    const a = new RedisConnection(resolveRedisOptions({ url: hop.url, keyPrefix: 'sg2:', commandTimeoutMs: 200, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200, shutdownGraceMs: 1_000 } }));
    await a.onModuleInit();
    const map = new RedisCollections(a.engine).map<number>('orders');
    await hop.cut();
    await waitUntil(async () => (await map.set('k', 0).catch(() => undefined), a.engine.mode() === 'fallback'), { timeoutMs: 10_000, what: 'A on its fallback' });
    await map.set('k', 1);
    const first = a.onApplicationShutdown();
    await a.onApplicationShutdown();
    expect(a.status()).toBe('disconnected');
    await first;
  });
});
