import { startCluster, startRedis, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { Cluster, Redis } from 'ioredis';
import { RedisEngine } from '../src/engine/redis.engine.js';
import type { StoreEngine } from '../src/engine/store-engine.port.js';

export interface EngineTarget {
  engine: StoreEngine;
  /** Closes what the target opened; the last target out stops the server. */
  close(): Promise<void>;
}

/**
 * Opens RedisEngines on one real Redis (standalone, or a 3-master Cluster without replicas) that
 * the suites of a spec file share: the first `open` starts the server, each call gets its own
 * client under its own key prefix, and the last one to close stops the server.
 */
export function sharedRedisEngines(topology: 'standalone' | 'cluster'): (keyPrefix: string) => Promise<EngineTarget> {
  let server: Promise<RedisProcess | RedisClusterHandle> | undefined;
  let users = 0;
  return async (keyPrefix) => {
    server ??= topology === 'standalone' ? startRedis() : startCluster({ masters: 3, replicasPerMaster: 0 });
    users++;
    const running = await server;
    let client: Redis | Cluster;
    if ('seeds' in running) {
      const cluster = new Cluster(running.seeds);
      await new Promise<void>((resolve, reject) => {
        cluster.once('ready', resolve);
        cluster.once('error', reject);
      });
      client = cluster;
    } else client = new Redis(running.url);
    const engine = new RedisEngine(client, { keyPrefix });
    return {
      engine,
      close: async () => {
        await engine.close();
        client.disconnect();
        if (--users === 0) {
          server = undefined;
          await running.stop();
        }
      },
    };
  };
}
