import type { Cluster, Redis } from 'ioredis';
import { evictionWatchOf } from '../connection/eviction.watch.js';
import type { RedisConnection } from '../connection/redis.connection.js';

/** How the connection reaches Redis; `embedded` when no Redis is configured at all. */
export type RedisTopology = 'standalone' | 'sentinel' | 'cluster' | 'client' | 'embedded';

/** What a healthy probe reports (the `up` data of the indicator). */
export interface RedisHealthDetails {
  /** Round trip of PING (on Cluster: PING to every master), in milliseconds. */
  latencyMs: number;
  mode: RedisTopology;
  engine: 'redis';
  /** `master` or `slave`, from INFO replication. */
  role: string;
  /** `used_memory` (on Cluster: summed over the masters). */
  usedMemoryBytes: number;
  /** `maxmemory`; 0 means no limit. */
  maxMemoryBytes: number;
  /** used / max (on Cluster: the fullest master); null when no maxmemory is set. */
  memoryRatio: number | null;
  /** `maxmemory_policy` from INFO memory (on Cluster: the distinct values of the masters, comma-separated). */
  maxMemoryPolicy: string;
  /** Set when sessions or the deny-list live on this connection and the policy can evict them. */
  evictionRisk?: string;
  /** Sentinel: the master the connection currently talks to. */
  master?: string;
  /** Cluster: `cluster_state` from CLUSTER INFO. */
  clusterState?: string;
  /** Cluster: masters that answered, out of `masters`. */
  mastersAnswering?: number;
  masters?: number;
}

export function topologyOf(connection: RedisConnection): RedisTopology {
  const kind = connection.options.target.kind;
  if (kind === 'none') return 'embedded';
  if (kind === 'client') return connection.client?.isCluster ? 'cluster' : 'client';
  return kind;
}

/** Thrown by the probe with a message fit for a health response (no secrets, no arguments). */
export class RedisHealthProbeError extends Error {}

interface NodeMemory {
  role: string;
  used: number;
  max: number;
  policy: string;
}

/**
 * Asks Redis itself, on the module's own client (no extra connection per probe). Rejects when
 * Redis cannot serve; the caller bounds the wait, since a frozen server answers nothing.
 */
export async function probeRedis(connection: RedisConnection): Promise<RedisHealthDetails> {
  const client = connection.client;
  if (!client) throw new RedisHealthProbeError('no Redis is configured (embedded in-memory store)');
  const mode = topologyOf(connection);
  if (client.isCluster) return probeCluster(connection, client as Cluster, mode);

  const redis = client as Redis;
  const [latencyMs, info] = await Promise.all([connection.ping(), redis.call('INFO', 'memory', 'replication')]);
  const memory = parseNode(info);
  const details: RedisHealthDetails = { latencyMs: round(latencyMs), mode, engine: 'redis', ...memoryFields([memory], connection) };
  if (mode === 'sentinel') {
    const { remoteAddress, remotePort } = redis.stream ?? {};
    details.master = remoteAddress ? `${remoteAddress}:${remotePort}` : 'unknown';
    // Sentinel promised a master; a replica here means a failover is under way and writes would fail.
    if (memory.role !== 'master') throw new RedisHealthProbeError(`connected to a ${memory.role} (${details.master}), not to the master: failover in progress`);
  }
  return details;
}

async function probeCluster(connection: RedisConnection, cluster: Cluster, mode: RedisTopology): Promise<RedisHealthDetails> {
  const masters = cluster.nodes('master');
  if (masters.length === 0) throw new RedisHealthProbeError('no cluster master is connected');
  // Every master is asked (a random node answering says nothing about the slots of a dead one), and
  // each reports its own view of cluster_state.
  const [latencyMs, answers] = await Promise.all([
    connection.ping().catch((error: unknown) => error as Error),
    Promise.allSettled(masters.map((node) => Promise.all([node.call('INFO', 'memory', 'replication'), node.call('CLUSTER', 'INFO')]))),
  ]);
  const failed = masters.filter((_, i) => answers[i]!.status === 'rejected').map((node) => `${node.options.host}:${node.options.port}`);
  if (failed.length > 0) throw new RedisHealthProbeError(`${failed.length} of ${masters.length} cluster masters did not answer: ${failed.join(', ')}`);
  const replies = answers.map((r) => (r as PromiseFulfilledResult<[unknown, unknown]>).value);
  const states = replies.map(([, clusterInfo]) => /cluster_state:(\w+)/.exec(String(clusterInfo))?.[1] ?? 'unknown');
  const clusterState = states.find((s) => s !== 'ok') ?? 'ok';
  if (clusterState !== 'ok') throw new RedisHealthProbeError(`cluster_state is ${clusterState}`);
  if (latencyMs instanceof Error) throw latencyMs;
  const nodes = replies.map(([info]) => parseNode(info));
  return {
    latencyMs: round(latencyMs),
    mode,
    engine: 'redis',
    ...memoryFields(nodes, connection),
    clusterState,
    mastersAnswering: nodes.length,
    masters: masters.length,
  };
}

function parseNode(info: unknown): NodeMemory {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(String(info))?.[1]?.trim();
  return { role: field('role') ?? 'unknown', used: Number(field('used_memory') ?? 0), max: Number(field('maxmemory') ?? 0), policy: field('maxmemory_policy') ?? 'unknown' };
}

function memoryFields(nodes: NodeMemory[], connection: RedisConnection): Pick<RedisHealthDetails, 'role' | 'usedMemoryBytes' | 'maxMemoryBytes' | 'memoryRatio' | 'maxMemoryPolicy' | 'evictionRisk'> {
  const limited = nodes.every((n) => n.max > 0);
  const policies = [...new Set(nodes.map((n) => n.policy))].sort();
  const evictionRisk = evictionWatchOf(connection)?.observe(policies);
  return {
    maxMemoryPolicy: policies.join(','),
    ...(evictionRisk ? { evictionRisk } : {}),
    role: [...new Set(nodes.map((n) => n.role))].join(','),
    usedMemoryBytes: nodes.reduce((sum, n) => sum + n.used, 0),
    maxMemoryBytes: nodes.reduce((sum, n) => sum + n.max, 0),
    memoryRatio: limited ? Math.round(Math.max(...nodes.map((n) => n.used / n.max)) * 10_000) / 10_000 : null,
  };
}

const round = (ms: number) => Math.round(ms * 100) / 100;
