export { ensureRedisBinaries, type SentinelLauncher } from './redis-install.js';
export { CLUSTER_BUS_OFFSET, freePort, freePortPair } from './free-port.js';
export { killAllRedis, liveProcessCount } from './process-registry.js';
export { compileFixture, REPO_ROOT } from './child-fixture.js';
export { waitUntil, type WaitOptions } from './wait-until.js';
export {
  parseInfo,
  redisCommand,
  RedisStartError,
  startRedis,
  startRedisProcess,
  makeTempDir,
  waitForReplicaSync,
  type RedisEndpoint,
  type RedisProcess,
  type StartRedisOptions,
} from './redis-server.harness.js';
export {
  CLUSTER_SLOTS,
  parseClusterNodes,
  startCluster,
  type ClusterNodeEntry,
  type RedisClusterHandle,
  type StartClusterOptions,
} from './redis-cluster.harness.js';
export {
  startSentinelGroup,
  type SentinelGroupHandle,
  type StartSentinelGroupOptions,
} from './redis-sentinel.harness.js';
export {
  makeTlsCertificates,
  startTlsRedis,
  startTlsCluster,
  startTlsSentinel,
  tlsCommand,
  type StartTlsRedisOptions,
  type TlsCertificates,
  type TlsClusterHandle,
  type TlsRedisProcess,
  type TlsSentinelHandle,
} from './redis-tls.harness.js';
export { CapturingLogger } from './capturing-logger.js';
export { Partition } from './tcp-partition.js';
