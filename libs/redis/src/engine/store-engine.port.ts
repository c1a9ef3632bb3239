import type { ScriptDefinition, ScriptReply } from './script.types.js';
import type {
  CallOptions,
  EngineMode,
  MessageHandler,
  ModeListener,
  MsetEntry,
  PatternMessageHandler,
  ReplayIncompleteListener,
  SetOptions,
  SubscribeOptions,
  Unsubscribe,
  WriteOptions,
  ZEntry,
} from './store-engine.types.js';

export type * from './store-engine.types.js';

/**
 * The one port every capability talks to. Keys are logical: the Redis engine adds `keyPrefix`,
 * so a write recorded during an outage can be replayed verbatim against Redis.
 *
 * Capabilities ask the port where they are served from (`mode()`, `onModeChange`) and pass
 * `{ fallback: false }` where an answer from one process's memory would be a guess; they never ask
 * which engine class they hold.
 */
export interface StoreEngine {
  /** Where the next command will be served from. */
  mode(): EngineMode;
  /** Calls `listener` on every change of `mode()`; returns a function that removes it. */
  onModeChange(listener: ModeListener): () => void;
  /** Calls `listener` when Redis returned but some outage writes never reached it. */
  onReplayIncomplete(listener: ReplayIncompleteListener): () => void;

  get(key: string, options?: CallOptions): Promise<string | null>;
  /** `ttlMs` 0 or absent keeps the value until deleted. Returns false when `nx`/`xx` prevented the write. */
  set(key: string, value: string, options?: SetOptions): Promise<boolean>;
  mget(keys: readonly string[], options?: CallOptions): Promise<(string | null)[]>;
  mset(entries: readonly MsetEntry[], options?: WriteOptions): Promise<void>;
  del(keys: readonly string[], options?: WriteOptions): Promise<number>;
  exists(key: string, options?: CallOptions): Promise<boolean>;
  /** Milliseconds to live; -1 without expiry, -2 when the key does not exist. */
  pttl(key: string, options?: CallOptions): Promise<number>;
  pexpire(key: string, ttlMs: number, options?: WriteOptions): Promise<boolean>;
  incrBy(key: string, by: number, options?: WriteOptions): Promise<number>;

  hget(key: string, field: string, options?: CallOptions): Promise<string | null>;
  hset(key: string, fields: Readonly<Record<string, string>>, options?: WriteOptions): Promise<number>;
  hgetall(key: string, options?: CallOptions): Promise<Record<string, string>>;
  hdel(key: string, fields: readonly string[], options?: WriteOptions): Promise<number>;

  sadd(key: string, members: readonly string[], options?: WriteOptions): Promise<number>;
  srem(key: string, members: readonly string[], options?: WriteOptions): Promise<number>;
  smembers(key: string, options?: CallOptions): Promise<string[]>;
  sismember(key: string, member: string, options?: CallOptions): Promise<boolean>;

  zadd(key: string, entries: readonly ZEntry[], options?: WriteOptions): Promise<number>;
  zincrby(key: string, by: number, member: string, options?: WriteOptions): Promise<number>;
  zrem(key: string, members: readonly string[], options?: WriteOptions): Promise<number>;
  zscore(key: string, member: string, options?: CallOptions): Promise<number | null>;
  zcard(key: string, options?: CallOptions): Promise<number>;
  /** Members by rank, highest score first when `reverse`; `stop` is inclusive like ZRANGE. */
  zrange(key: string, start: number, stop: number, options?: { reverse?: boolean } & CallOptions): Promise<ZEntry[]>;
  zrangeByScore(key: string, min: number, max: number, options?: { limit?: number } & CallOptions): Promise<ZEntry[]>;
  zremRangeByScore(key: string, min: number, max: number, options?: WriteOptions): Promise<number>;

  /**
   * Keys matching a glob over logical keys, in batches, from every master of a cluster. A key may
   * appear twice (SCAN's guarantee); escape user input with `escapeGlob`.
   */
  scan(pattern: string, options?: { count?: number } & CallOptions): AsyncIterable<string[]>;

  /** Runs an atomic script: Lua on Redis (EVALSHA), its TypeScript twin in memory. */
  runScript(script: ScriptDefinition, keys: readonly string[], args: readonly (string | number)[], options?: WriteOptions): Promise<ScriptReply>;

  /** Milliseconds since the epoch on the store's clock (Redis `TIME`). */
  time(options?: CallOptions): Promise<number>;
  /** Round-trip latency in milliseconds. */
  ping(): Promise<number>;
  /**
   * Redis `WAIT`: how many replicas acknowledged this connection's writes within `timeoutMs`
   * (every master is asked on a Cluster; the smallest count is returned). 0 without Redis.
   */
  wait(replicas: number, timeoutMs: number): Promise<number>;

  publish(channel: string, message: string, options?: CallOptions): Promise<number>;
  /** Resolves once the subscription is active; the returned function removes it. */
  subscribe(channel: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Unsubscribe>;
  psubscribe(pattern: string, handler: PatternMessageHandler): Promise<Unsubscribe>;

  /** Removes every key under the engine's prefix (the whole memory store). */
  clear(): Promise<void>;
  close(): Promise<void>;
}
