import { runCacheSuite } from './cache.behaviour.js';
import { startCluster, type RedisClusterHandle } from '@nestjs-redis-kit/test-support';

let cluster: RedisClusterHandle | undefined;

// Keys of one namespace spread over every master: mget/mset, SCAN-based patterns and clear() must
// reach all of them, and every script touches one key only.
runCacheSuite(
  { label: 'Redis Cluster (3 masters)', options: () => ({ cluster: { nodes: cluster!.seeds } }), shared: true },
  {
    beforeAll: async () => {
      cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    },
    afterAll: async () => {
      await cluster?.stop();
    },
  },
);
