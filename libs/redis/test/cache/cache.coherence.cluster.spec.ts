import { Cluster } from 'ioredis';
import { startCluster, type RedisClusterHandle } from '@nestjs-redis-kit/test-support';
import { runCoherenceSuite } from './cache.coherence.suite.js';

let cluster: RedisClusterHandle | undefined;

// Value keys, lock keys and tag versions spread over three masters: every script touches one
// declared key, and evictions are published from the node that owns the written key.
runCoherenceSuite({
  label: 'Redis Cluster (3 masters)',
  start: async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  },
  stop: async () => {
    await cluster?.stop();
  },
  options: () => ({ cluster: { nodes: cluster!.seeds } }),
  admin: () => new Cluster(cluster!.seeds),
  processes: () => cluster?.nodes ?? [],
});
