import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { Cluster } from 'ioredis';
import { CapturingLogger, Partition, startCluster, waitUntil, type RedisClusterHandle } from '@nestjs-redis-kit/test-support';
import { RedisCollections } from '../../src/collections/collections.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import type { FallbackEngine } from '../../src/engine/fallback.engine.js';
import type { ReplayRefused } from '../../src/engine/store-engine.types.js';
import { resolveRedisOptions } from '../../src/redis.options.js';

const DEADLINE_MS = 300;

/**
 * On Redis Cluster: instance A reaches every master through a hop that can be cut (the Cluster
 * client maps the nodes' announced addresses to the hops), B connects directly.
 */
describe('collections on Redis Cluster: outage writes replayed over newer writes are refused', () => {
  let cluster: RedisClusterHandle;
  const partitions: Partition[] = [];
  const connections: RedisConnection[] = [];
  const owned: Cluster[] = [];
  const logs = new CapturingLogger();

  beforeAll(async () => {
    Logger.overrideLogger(logs);
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  });
  afterAll(async () => {
    Logger.overrideLogger(new ConsoleLogger());
    for (const c of connections) await c.onApplicationShutdown();
    // The library leaves a client it was given open: its owner closes it.
    for (const c of owned) {
      await c.quit().catch(() => undefined);
      c.disconnect();
    }
    for (const p of partitions) await p.cut();
    await cluster?.stop();
  });

  it('map set vs B\'s delete and set vs B\'s set, on several slots: B\'s writes kept, conflicts reported; an untouched map takes all of A\'s writes', async () => {
    const natMap: Record<string, { host: string; port: number }> = {};
    for (const node of cluster.nodes) {
      const hop = await Partition.open(node.port);
      partitions.push(hop);
      natMap[`127.0.0.1:${node.port}`] = { host: '127.0.0.1', port: hop.port };
    }
    const seeds = Object.values(natMap);
    const viaHops = new Cluster(seeds, {
      natMap,
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 500),
      redisOptions: { maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, connectTimeout: 1_000 },
      slotsRefreshTimeout: 1_000,
    });
    owned.push(viaHops);
    const options = { keyPrefix: 'cc:', commandTimeoutMs: DEADLINE_MS, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 300 } };
    const a = new RedisConnection(resolveRedisOptions({ client: viaHops, ...options }));
    const b = new RedisConnection(resolveRedisOptions({ cluster: { nodes: cluster.seeds }, ...options }));
    connections.push(a, b);
    await a.onModuleInit();
    await b.onModuleInit();
    const A = new RedisCollections(a.engine);
    const B = new RedisCollections(b.engine);
    const names = ['alpha', 'beta', 'gamma', 'delta'];
    for (const n of names) await B.map<number>(n).setMany([['k', 0], ['j', 0]]);

    const reports: ReplayRefused[] = [];
    (a.engine as FallbackEngine).onReplayRefused((r) => reports.push(r));
    for (const p of partitions) await p.cut();
    try {
      await waitUntil(async () => {
        // A notices the cut at its next command.
        await A.map('alpha').get('k').catch(() => undefined);
        return a.engine.mode() === 'fallback';
      }, { timeoutMs: 10_000, what: 'A on its fallback' });
      for (const n of names) {
        await A.map<number>(n).set('k', 1);
        await A.map<number>(n).set('j', 1);
      }
      await A.map<number>('untouched').setMany([['x', 1], ['y', 2]]);
      await A.map<number>('untouched').delete('y');
      for (const n of names.slice(0, 2)) await B.map<number>(n).delete('k');
      for (const n of names.slice(2)) await B.map<number>(n).set('k', 2);
    } finally {
      for (const p of partitions) await p.heal();
    }
    await waitUntil(() => a.engine.mode() === 'redis' && (a.engine as FallbackEngine).stats().journalSize === 0, { timeoutMs: 20_000, what: 'A back on Redis with its journal replayed' });

    for (const n of names.slice(0, 2)) expect(Object.fromEntries(await B.map<number>(n).entries())).toEqual({ j: 0 });
    for (const n of names.slice(2)) expect(Object.fromEntries(await B.map<number>(n).entries())).toEqual({ k: 2, j: 0 });
    expect(Object.fromEntries(await B.map<number>('untouched').entries())).toEqual({ x: 1 });
    expect(reports).toHaveLength(8);
    expect(new Set(reports.map((r) => r.capability))).toEqual(new Set(names.map((n) => `collection map "${n}"`)));
    for (const r of reports) expect(r).toMatchObject({ reason: 'CONFLICT', attempts: 1, outcome: 'dropped' });
  });
});
