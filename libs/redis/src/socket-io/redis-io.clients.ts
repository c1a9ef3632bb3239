import { Logger } from '@nestjs/common';
import { Cluster, type Redis } from 'ioredis';
import { closeClient } from '../engine/redis.close.js';

/** The adapter's two Redis connections, derived from the module's client (same target, auth, TLS). */
export interface IoRedisClients {
  pub: Redis | Cluster;
  sub: Redis | Cluster;
  cluster: boolean;
  close(): Promise<void>;
}

// Commands the Socket.IO adapter sends without handling their promise: with no offline queue they
// reject while Redis is away, and an unhandled rejection could end the process.
const FIRE_AND_FORGET = ['publish', 'spublish', 'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe'] as const;

function guard(client: Redis | Cluster): void {
  const target = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of FIRE_AND_FORGET) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    target[name] = function (this: unknown, ...args: unknown[]) {
      const result = original.apply(client, args);
      // Marks the promise handled; callers that await it still see the rejection.
      if (result && typeof (result as Promise<unknown>).catch === 'function') (result as Promise<unknown>).catch(() => undefined);
      return result;
    };
  }
}

/**
 * A hung Redis (socket open, no replies) keeps every PUBLISH sent to it: the deadline rejects the
 * caller, but the command stays queued, its bytes in the socket's buffer, until Redis answers, and
 * is then delivered however late. When the oldest command waiting for a reply is still the same
 * one a full deadline later, publishes are not sent at all (the broadcast still reaches local
 * sockets) until Redis answers again: memory stays bounded by broadcast rate x deadline, not by the
 * hang's length. Sampled on a timer, so a long synchronous burst of broadcasts (replies unread
 * only because the event loop is busy) is never taken for a hang. Returns the sampler's stop.
 */
function skipPublishesWhileHung(client: Redis, deadlineMs: number, logger: Logger): () => void {
  const target = client as unknown as Record<string, (...args: unknown[]) => unknown> & { commandQueue?: { peekFront?(): unknown } };
  const front = () => target.commandQueue?.peekFront?.();
  let sampled: unknown;
  let hungOn: unknown;
  const timer = setInterval(() => {
    const now = front();
    const wasHung = hungOn !== undefined;
    hungOn = now !== undefined && now === sampled ? now : undefined;
    if (hungOn !== undefined && !wasHung) {
      logger.warn(`Socket.IO Redis adapter: Redis has not answered for over ${deadlineMs} ms; broadcasts reach this instance's sockets only until it does`);
    }
    sampled = now;
  }, Math.max(10, deadlineMs));
  timer.unref();
  for (const name of ['publish', 'spublish'] as const) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    target[name] = function (this: unknown, ...args: unknown[]) {
      // Any reply since the sample moved the queue on: Redis answers again.
      if (hungOn !== undefined && front() !== hungOn) hungOn = undefined;
      if (hungOn === undefined) return original.apply(client, args);
      const skipped = Promise.reject(new Error(`${name} not sent: Redis has not answered for over ${deadlineMs} ms`));
      skipped.catch(() => undefined);
      return skipped;
    };
  }
  return () => clearInterval(timer);
}

/**
 * Duplicates `source` (the connection's own client, so Sentinel, Cluster, TLS and ACL settings
 * carry over) into a publisher that never buffers (a broadcast while Redis is away reaches only
 * local sockets, at once) and a subscriber that keeps its few SUBSCRIBE commands until Redis
 * answers and re-subscribes after every reconnect. On a Cluster the subscriber uses ioredis'
 * sharded subscribers, one per shard, for sharded pub/sub.
 */
export function deriveClients(source: Redis | Cluster, logger: Logger, commandTimeoutMs: number): IoRedisClients {
  const cluster = source instanceof Cluster || (source as { isCluster?: boolean }).isCluster === true;
  let pub: Redis | Cluster;
  let sub: Redis | Cluster;
  let stopSampler = (): void => undefined;
  if (cluster) {
    const c = source as Cluster;
    pub = c.duplicate([], { lazyConnect: true, enableOfflineQueue: false, redisOptions: { ...c.options.redisOptions, maxRetriesPerRequest: 0, commandTimeout: commandTimeoutMs } });
    sub = c.duplicate([], {
      lazyConnect: true,
      enableOfflineQueue: true,
      shardedSubscribers: true,
      redisOptions: { ...c.options.redisOptions, maxRetriesPerRequest: null },
    });
  } else {
    const r = source as Redis;
    // A deadline on every PUBLISH: against a hung Redis (socket open, no replies) the commands
    // waiting for a reply are bounded by broadcast rate x deadline, not by the hang's length.
    pub = r.duplicate({ lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: commandTimeoutMs, keyPrefix: undefined });
    stopSampler = skipPublishesWhileHung(pub, commandTimeoutMs, logger);
    // Bounded: only the adapter's subscriptions ever wait in this queue.
    sub = r.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null, keyPrefix: undefined });
  }
  let down = false;
  const onError = (error: unknown) => {
    // ioredis reports every failed reconnect; one line per outage is enough.
    if (down) return;
    down = true;
    logger.warn(`Socket.IO Redis adapter lost Redis (${error instanceof Error ? error.message : String(error)}): broadcasts reach this instance's sockets only until it returns`);
  };
  const onReady = () => {
    if (down) logger.log('Socket.IO Redis adapter reconnected: broadcasts reach every instance again');
    down = false;
  };
  for (const client of [pub, sub]) {
    client.on('error', onError);
    guard(client);
  }
  sub.on('ready', onReady);
  for (const client of [pub, sub]) client.connect().catch(() => undefined);
  return {
    pub,
    sub,
    cluster,
    async close() {
      stopSampler();
      await Promise.all([closeClient(pub), closeClient(sub)]);
    },
  };
}
