import { afterAll, describe, expect, it } from '@jest/globals';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { startCluster, startSentinelGroup, type RedisClusterHandle, type SentinelGroupHandle } from '@nestjs-redis-kit/test-support';
import { waitUntil } from '@nestjs-redis-kit/test-support';

async function connect(options: RedisModuleOptions) {
  const connection = new RedisConnection(resolveRedisOptions({ commandTimeoutMs: 300, connectTimeoutMs: 5_000, keyPrefix: 'failover:', ...options }));
  await connection.onModuleInit();
  return connection;
}

/** Keeps operating the way an app does until `stop` resolves; counts what failed and the slowest call. */
function keepOperating(connection: RedisConnection, stop: Promise<unknown>) {
  let done = false;
  void stop.finally(() => (done = true));
  const stats = { ok: 0, failed: 0, slowest: 0 };
  const loop = (async () => {
    for (let i = 0; !done; i++) {
      const t0 = performance.now();
      try {
        await connection.engine.set(`load:${i % 50}`, String(i));
        stats.ok++;
      } catch {
        stats.failed++;
      }
      stats.slowest = Math.max(stats.slowest, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return { stats, loop };
}

describe('failover, as the application sees it', () => {
  let cluster: RedisClusterHandle | undefined;
  let sentinel: SentinelGroupHandle | undefined;

  afterAll(async () => {
    await cluster?.stop();
    await sentinel?.stop();
  });

  it('Cluster: a master is killed, its replica is promoted, operations resume on every slot', async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 1_000 });
    const connection = await connect({ cluster: { nodes: cluster.seeds } });
    try {
      expect(connection.status()).toBe('connected');
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
      await connection.engine.mset(keys.map((key) => ({ key, value: `before-${key}` })));
      // Let the replicas catch up so the promoted one holds what was acknowledged.
      for (const master of await cluster.masters()) await master.command('WAIT', 1, 2_000);

      const [victim] = await cluster.masters();
      const promotion = (async () => {
        await victim!.kill();
        await cluster!.waitForPromotion(victim!, 30_000);
      })();
      const { stats, loop } = keepOperating(connection, promotion);
      await promotion;
      await loop;
      // Every call settled within the deadline (plus the client's redirect retries); none hung.
      expect(stats.slowest).toBeLessThan(3_000);
      expect(stats.ok + stats.failed).toBeGreaterThan(0);

      await waitUntil(async () => (await connection.engine.set('probe', 'x')) && connection.status() === 'connected' && connection.engine.mode() === 'redis', {
        timeoutMs: 20_000,
        what: 'the app back on Redis after the promotion',
      });
      expect(await connection.engine.mget(keys)).toEqual(keys.map((key) => `before-${key}`));
      await connection.engine.mset(keys.map((key) => ({ key, value: `after-${key}` })));
      expect(await connection.engine.mget(keys)).toEqual(keys.map((key) => `after-${key}`));
    } finally {
      await connection.onApplicationShutdown();
      await cluster.stop();
      cluster = undefined;
    }
  });

  it('Sentinel: the master is killed, sentinels fail over, operations resume on the new master', async () => {
    sentinel = await startSentinelGroup({ downAfterMs: 1_000, failoverTimeoutMs: 3_000 });
    const connection = await connect({ sentinel: { name: sentinel.name, sentinels: sentinel.sentinelAddresses } });
    try {
      expect(connection.status()).toBe('connected');
      await connection.engine.set('acknowledged', 'before failover');
      await sentinel.master.command('WAIT', 1, 2_000);
      const oldPort = sentinel.master.port;

      const failover = (async () => {
        await sentinel!.master.kill();
        return sentinel!.waitForFailover(oldPort, 30_000);
      })();
      const { stats, loop } = keepOperating(connection, failover);
      const newMaster = await failover;
      await loop;
      expect(newMaster.port).not.toBe(oldPort);
      expect(stats.slowest).toBeLessThan(3_000);

      await waitUntil(async () => (await connection.engine.set('probe', 'x')) && connection.status() === 'connected' && connection.engine.mode() === 'redis', {
        timeoutMs: 20_000,
        what: 'the app back on Redis after the failover',
      });
      expect(await connection.engine.get('acknowledged')).toBe('before failover');
      await connection.engine.set('after', 'failover');
      expect(await sentinel.replica.command('GET', 'failover:after')).toBe('failover');
    } finally {
      await connection.onApplicationShutdown();
    }
  });
});
