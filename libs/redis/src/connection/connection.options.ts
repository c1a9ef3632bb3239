import type { ConnectionOptions } from 'node:tls';
import type { Cluster, Redis } from 'ioredis';
import { RedisConfigError } from '../redis.errors.js';

/** A Redis node, sentinel or cluster seed: `{ host, port }`. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/** Reach Redis through Sentinel: the master group name and the sentinels to ask. */
export interface RedisSentinelOptions {
  /** The master group name the sentinels monitor. */
  name: string;
  sentinels: RedisNodeAddress[];
  /** ACL user and password for the sentinels themselves (the data nodes use the top-level ones). */
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** TLS to the sentinels themselves; default: the same as the top-level `tls` (managed Redis uses TLS on both). */
  tls?: boolean | ConnectionOptions;
}

/** Reach a Redis Cluster from seed nodes. */
export interface RedisClusterOptions {
  /** Seed nodes; the rest of the cluster is discovered from them. */
  nodes: RedisNodeAddress[];
}

/** Bounds of the in-memory store (embedded store or outage fallback); past them it evicts the least recently used entries. */
export interface MemoryStoreOptions {
  /** Most entries the in-memory store keeps before evicting the least recently used. */
  maxEntries?: number;
  /** Approximate bound on keys + values held in memory (UTF-16 code units count as bytes). */
  maxBytes?: number;
}

/** Circuit breaker in front of Redis: when it opens, the instance serves from memory and probes Redis in the background. */
export interface BreakerOptions {
  /** Consecutive failed or timed-out commands that open the breaker. */
  failureThreshold?: number;
  /** First delay between background probes while the breaker is open; doubles up to `maxProbeIntervalMs`. */
  probeIntervalMs?: number;
  maxProbeIntervalMs?: number;
  /**
   * Invalidations and creations kept for replay while Redis is away. Past this an invalidation is
   * dropped (and `replay-incomplete` asks for a wider measure on recovery) and a creation is
   * refused with `JournalFullError`.
   */
  journalLimit?: number;
  /**
   * Revocations and denies kept for replay while Redis is away, counted apart so no burst of other
   * writes can push one out. Past this the call rejects with `JournalFullError`. Default 10 000.
   */
  securityJournalLimit?: number;
  /** Journaled writes sent to Redis together (pipelined) per replay round trip. Default 500. */
  replayBatchSize?: number;
  /** Tries for a write Redis refuses on replay (OOM, NOPERM, MISCONF...) before it is reported. Default 3. */
  replayAttempts?: number;
  /** Delay before the second try of a refused replay write, doubling after. Default 250 ms. */
  replayRetryMs?: number;
  /**
   * How long shutdown waits for Redis to take the writes made while it was away (a rolling deploy
   * during an outage would otherwise lose every revocation the stopping instance holds). Only spent
   * when such writes are pending; 0 shuts down at once. Default 3000 ms.
   */
  shutdownGraceMs?: number;
}

/** Where Redis is and how to talk to it; `RedisConnectionOptions` adds the capability sections. */
export interface RedisConnectionOptions {
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** `true` for TLS with the system CAs, or Node's TLS options (for a private CA or client certificates). */
  tls?: boolean | ConnectionOptions;
  sentinel?: RedisSentinelOptions;
  cluster?: RedisClusterOptions;
  /** An ioredis client the application owns. The module uses it and never closes it. */
  client?: Redis | Cluster;
  /** Prepended to every key the library writes. */
  keyPrefix?: string;
  /** What to do while Redis is unavailable: serve from a bounded in-memory store, or fail fast. */
  fallback?: 'memory' | 'none';
  memory?: MemoryStoreOptions;
  /** Deadline for every Redis command, in milliseconds. */
  commandTimeoutMs?: number;
  /** How long start-up waits for the first connection before serving from the fallback. */
  connectTimeoutMs?: number;
  breaker?: BreakerOptions;
}

export interface ResolvedRedisOptions {
  target: RedisTarget;
  keyPrefix: string;
  fallback: 'memory' | 'none';
  memory: Required<MemoryStoreOptions>;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  breaker: Required<BreakerOptions>;
}

/** Where the data lives, decided once from the options. */
export type RedisTarget =
  | { kind: 'none' }
  | { kind: 'client'; client: Redis | Cluster }
  | { kind: 'standalone'; host: string; port: number; username?: string; password?: string; db: number; tls?: ConnectionOptions }
  | { kind: 'sentinel'; name: string; sentinels: RedisNodeAddress[]; username?: string; password?: string; db: number; tls?: ConnectionOptions; sentinelTls?: ConnectionOptions; sentinelUsername?: string; sentinelPassword?: string }
  | { kind: 'cluster'; nodes: RedisNodeAddress[]; username?: string; password?: string; tls?: ConnectionOptions };

/** Defaults of the connection options (`commandTimeoutMs`, `fallback`, memory bounds, breaker...). */
export const REDIS_DEFAULTS = {
  port: 6379,
  keyPrefix: '',
  fallback: 'memory',
  // Well above a healthy Redis' p99 on a LAN, well below what a user notices on a request.
  commandTimeoutMs: 300,
  connectTimeoutMs: 2_000,
  memory: { maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 },
  breaker: {
    failureThreshold: 3,
    probeIntervalMs: 250,
    maxProbeIntervalMs: 5_000,
    journalLimit: 10_000,
    securityJournalLimit: 10_000,
    replayBatchSize: 500,
    replayAttempts: 3,
    replayRetryMs: 250,
    shutdownGraceMs: 3_000,
  },
} as const;

const isPort = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65_535;
const isPositiveInt = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0;

function checkAddresses(list: unknown, what: string, problems: string[]): void {
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`${what} must list at least one { host, port }`);
    return;
  }
  list.forEach((node, i) => {
    const n = node as Partial<RedisNodeAddress> | undefined;
    if (!n || typeof n.host !== 'string' || n.host.length === 0) problems.push(`${what}[${i}].host must be a non-empty string`);
    if (!n || !isPort(n.port)) problems.push(`${what}[${i}].port must be an integer from 1 to 65535 (got ${String(n?.port)})`);
  });
}

function parseUrl(url: string, problems: string[]): Partial<RedisTarget & { kind: 'standalone' }> | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL may carry a password, so it is never echoed back.
    problems.push('url is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://...)');
    return undefined;
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    problems.push(`url must start with redis:// or rediss:// (got ${parsed.protocol}//)`);
    return undefined;
  }
  if (!parsed.hostname) {
    problems.push('url has no host');
    return undefined;
  }
  const port = parsed.port ? Number(parsed.port) : REDIS_DEFAULTS.port;
  const dbPart = parsed.pathname.replace(/^\//, '');
  let db = 0;
  if (dbPart !== '') {
    if (!/^\d+$/.test(dbPart)) problems.push(`url database must be a non-negative integer (got "${dbPart}")`);
    else db = Number(dbPart);
  }
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    db,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
  };
}

function tlsOptions(tls: RedisConnectionOptions['tls']): ConnectionOptions | undefined {
  if (tls === true) return {};
  if (tls && typeof tls === 'object') return tls;
  return undefined;
}

/**
 * Validates options and decides the connection target. Every problem is collected so one start-up
 * failure names all of them; no message ever contains a password.
 */
export function resolveRedisOptions(options: RedisConnectionOptions = {}): ResolvedRedisOptions {
  const problems: string[] = [];
  const o = options ?? {};
  const sources = [
    o.url !== undefined && 'url',
    o.host !== undefined && 'host',
    o.sentinel !== undefined && 'sentinel',
    o.cluster !== undefined && 'cluster',
    o.client !== undefined && 'client',
  ].filter(Boolean) as string[];
  if (sources.length > 1) problems.push(`set only one of url, host, sentinel, cluster, client (got ${sources.join(' and ')})`);

  if (o.port !== undefined && !isPort(o.port)) problems.push(`port must be an integer from 1 to 65535 (got ${String(o.port)})`);
  if (o.db !== undefined && !(Number.isInteger(o.db) && o.db >= 0)) problems.push(`db must be a non-negative integer (got ${String(o.db)})`);
  if (o.cluster && o.db !== undefined && o.db !== 0) problems.push('db cannot be used with cluster: Redis Cluster only has database 0');
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host.length === 0)) problems.push('host must be a non-empty string');
  if (o.keyPrefix !== undefined && typeof o.keyPrefix !== 'string') problems.push('keyPrefix must be a string');
  if (typeof o.keyPrefix === 'string' && /[{}*?[\]\\]/.test(o.keyPrefix)) {
    problems.push('keyPrefix must not contain {, }, *, ?, [, ] or \\ (they would change hash slots or glob patterns)');
  }
  if (o.fallback !== undefined && o.fallback !== 'memory' && o.fallback !== 'none') problems.push(`fallback must be 'memory' or 'none' (got ${JSON.stringify(o.fallback)})`);
  if (o.commandTimeoutMs !== undefined && !isPositiveInt(o.commandTimeoutMs)) problems.push(`commandTimeoutMs must be a positive integer (got ${String(o.commandTimeoutMs)})`);
  if (o.connectTimeoutMs !== undefined && !(Number.isInteger(o.connectTimeoutMs) && o.connectTimeoutMs >= 0)) problems.push(`connectTimeoutMs must be a non-negative integer (got ${String(o.connectTimeoutMs)})`);
  for (const k of ['maxEntries', 'maxBytes'] as const) {
    const v = o.memory?.[k];
    if (v !== undefined && !isPositiveInt(v)) problems.push(`memory.${k} must be a positive integer (got ${String(v)})`);
  }
  for (const k of ['failureThreshold', 'probeIntervalMs', 'maxProbeIntervalMs', 'journalLimit', 'securityJournalLimit', 'replayBatchSize', 'replayAttempts', 'replayRetryMs'] as const) {
    const v = o.breaker?.[k];
    if (v !== undefined && !isPositiveInt(v)) problems.push(`breaker.${k} must be a positive integer (got ${String(v)})`);
  }
  const grace = o.breaker?.shutdownGraceMs;
  if (grace !== undefined && !(Number.isInteger(grace) && grace >= 0)) problems.push(`breaker.shutdownGraceMs must be a non-negative integer (got ${String(grace)})`);
  if (o.sentinel) {
    if (typeof o.sentinel.name !== 'string' || o.sentinel.name.length === 0) problems.push('sentinel.name must name the master group the sentinels monitor');
    checkAddresses(o.sentinel.sentinels, 'sentinel.sentinels', problems);
  }
  if (o.cluster) checkAddresses(o.cluster.nodes, 'cluster.nodes', problems);
  if (o.client !== undefined && (o.client === null || typeof (o.client as { sendCommand?: unknown }).sendCommand !== 'function')) {
    problems.push('client must be an ioredis Redis or Cluster instance');
  }

  let target: RedisTarget = { kind: 'none' };
  const tls = tlsOptions(o.tls);
  if (o.client) target = { kind: 'client', client: o.client };
  else if (o.cluster) target = { kind: 'cluster', nodes: o.cluster.nodes, username: o.username, password: o.password, tls };
  else if (o.sentinel) {
    target = {
      kind: 'sentinel',
      name: o.sentinel.name,
      sentinels: o.sentinel.sentinels,
      username: o.username,
      password: o.password,
      db: o.db ?? 0,
      tls,
      sentinelTls: o.sentinel.tls === false ? undefined : (tlsOptions(o.sentinel.tls) ?? tls),
      sentinelUsername: o.sentinel.sentinelUsername,
      sentinelPassword: o.sentinel.sentinelPassword,
    };
  } else if (o.url !== undefined) {
    const fromUrl = typeof o.url === 'string' ? parseUrl(o.url, problems) : (problems.push('url must be a string'), undefined);
    if (fromUrl) {
      target = {
        kind: 'standalone',
        host: fromUrl.host!,
        port: o.port ?? fromUrl.port!,
        username: o.username ?? fromUrl.username,
        password: o.password ?? fromUrl.password,
        db: o.db ?? fromUrl.db ?? 0,
        tls: tls ?? fromUrl.tls,
      };
    }
  } else if (o.host !== undefined || o.port !== undefined) {
    target = { kind: 'standalone', host: o.host ?? 'localhost', port: o.port ?? REDIS_DEFAULTS.port, username: o.username, password: o.password, db: o.db ?? 0, tls };
  }

  if (problems.length > 0) throw new RedisConfigError(problems);
  return {
    target,
    keyPrefix: o.keyPrefix ?? REDIS_DEFAULTS.keyPrefix,
    fallback: o.fallback ?? REDIS_DEFAULTS.fallback,
    memory: { ...REDIS_DEFAULTS.memory, ...definedOnly(o.memory) },
    commandTimeoutMs: o.commandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs,
    connectTimeoutMs: o.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs,
    breaker: { ...REDIS_DEFAULTS.breaker, ...definedOnly(o.breaker) },
  };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A log-safe description of the target: never a password. */
export function describeTarget(target: RedisTarget): string {
  const user = (u?: string) => (u ? `${u}@` : '');
  switch (target.kind) {
    case 'none':
      return 'the embedded in-memory store (no Redis configured)';
    case 'client':
      return 'an application-provided ioredis client';
    case 'standalone':
      return `redis${target.tls ? 's' : ''}://${user(target.username)}${target.host}:${target.port}/${target.db}`;
    case 'sentinel':
      return `sentinel master "${target.name}" via ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
    case 'cluster':
      return `cluster seeded by ${target.nodes.map((s) => `${s.host}:${s.port}`).join(',')}`;
  }
}
