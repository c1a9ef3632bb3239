import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis, type Cluster } from 'ioredis';
import { createBullMqConnection, RedisConfigError } from 'nestjs-redis-kit';
import { startCluster, startRedis, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';

/** What BullMQ checks and relies on: no retry limit per request, offline queue on. */
function expectBullMqSettings(client: Redis) {
  expect(client.options.maxRetriesPerRequest).toBeNull();
  expect(client.options.enableReadyCheck).toBe(false);
  expect(client.options.enableOfflineQueue).toBe(true);
  expect(client.options.keyPrefix ?? '').toBe('');
}

describe('createBullMqConnection', () => {
  let server: RedisProcess;
  const clients: (Redis | Cluster)[] = [];
  const track = <T extends Redis | Cluster>(client: T) => (clients.push(client), client);

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await server?.destroy();
  });

  it('derives a client with BullMQ settings from the module options (keyPrefix left to BullMQ)', async () => {
    const client = track(createBullMqConnection({ url: server.url, keyPrefix: 'app:', commandTimeoutMs: 200 }) as Redis);
    expectBullMqSettings(client);
    // Issued before the socket is up: queued by the offline queue, not refused.
    expect(await client.set('bull:greeting', 'hi')).toBe('OK');
    expect(await server.command('GET', 'bull:greeting')).toBe('hi');
  });

  it('blocking commands wait past the module deadline and return what another client pushes (BRPOP, BLMOVE)', async () => {
    const worker = track(createBullMqConnection({ url: server.url, commandTimeoutMs: 50 }) as Redis);
    const producer = track(createBullMqConnection({ url: server.url }) as Redis);
    await worker.ping();

    const popped = worker.brpop('bull:wait', 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await producer.lpush('bull:wait', 'job-1');
    expect(await popped).toEqual(['bull:wait', 'job-1']);

    const moved = worker.blmove('bull:wait', 'bull:active', 'RIGHT', 'LEFT', 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await producer.lpush('bull:wait', 'job-2');
    expect(await moved).toBe('job-2');
    expect(await producer.lrange('bull:active', 0, -1)).toEqual(['job-2']);
  });

  it('duplicates a client passed in the options, leaving that client as it was', async () => {
    const own = track(new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true }));
    const client = track(createBullMqConnection({ client: own }) as Redis);
    expect(client).not.toBe(own);
    expectBullMqSettings(client);
    expect(own.options.maxRetriesPerRequest).toBe(0);
    expect(await client.ping()).toBe('PONG');
  });

  it('refuses options that select the in-memory store', () => {
    expect(() => createBullMqConnection({})).toThrow(RedisConfigError);
    expect(() => createBullMqConnection({})).toThrow(/BullMQ cannot run on the in-memory store/);
  });

  describe('on Redis Cluster', () => {
    let cluster: RedisClusterHandle;
    beforeAll(async () => {
      cluster = await startCluster({ replicasPerMaster: 0 });
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    it('builds a Cluster client with the same settings, and a blocking pop works on it', async () => {
      const client = track(createBullMqConnection({ cluster: { nodes: cluster.seeds.map(({ host, port }) => ({ host, port })) } }) as Cluster);
      expect(client.isCluster).toBe(true);
      expect(client.options.enableOfflineQueue).toBe(true);
      expect(client.options.redisOptions?.maxRetriesPerRequest).toBeNull();
      const producer = track(createBullMqConnection({ cluster: { nodes: cluster.seeds.map(({ host, port }) => ({ host, port })) } }) as Cluster);
      const popped = client.brpop('{bull}:wait', 10);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await producer.lpush('{bull}:wait', 'job-c');
      expect(await popped).toEqual(['{bull}:wait', 'job-c']);
    });
  });
});
