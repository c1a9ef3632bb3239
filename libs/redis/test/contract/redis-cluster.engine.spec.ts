import { Cluster } from 'ioredis';
import { startCluster, type RedisClusterHandle } from '@nestjs-redis-kit/test-support';
import { RedisEngine } from '../../src/engine/redis.engine.js';
import { runStoreEngineContract } from './store-engine.contract.js';

let cluster: RedisClusterHandle;

runStoreEngineContract('redis cluster', async () => {
  cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  const client = new Cluster(cluster.seeds);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  const engine = new RedisEngine(client, { keyPrefix: 'contract:' });
  return {
    engine,
    mode: 'redis',
    close: async () => {
      await engine.close();
      client.disconnect();
      await cluster.stop();
    },
  };
});
