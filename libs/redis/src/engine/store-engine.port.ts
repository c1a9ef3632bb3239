import type { ScriptDefinition, ScriptReply } from './script.types.js';
import type {
  CallOptions,
  EngineMode,
  MessageHandler,
  ModeListener,
  MsetEntry,
  PatternMessageHandler,
  ReplayIncompleteListener,
  ReplayRefusedListener,
  ScriptOptions,
  SetOptions,
  StreamEntry,
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
  /** Calls `listener` when Redis refused a write made during the outage (after its retries). */
  onReplayRefused(listener: ReplayRefusedListener): () => void;
  /**
   * Security writes of `capability` that Redis refused on replay and that are still being retried.
   * While this is above 0 the capability must fail closed: one of its revocations is not on Redis.
   */
  refusedWrites(capability: string): number;

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

  // ---- collections: lists, hash size, multi-field reads, rank (issue 17) -------------------------
  /**
   * LPUSH / RPUSH, then (when `cap` is given) LTRIM to the `cap` newest entries in the same atomic
   * step: the head for `lpush`, the tail for `rpush`. Returns the length after push and trim.
   */
  lpush(key: string, values: readonly string[], options?: { cap?: number } & WriteOptions): Promise<number>;
  rpush(key: string, values: readonly string[], options?: { cap?: number } & WriteOptions): Promise<number>;
  /** Entries by index, `stop` inclusive, negative counts from the tail (LRANGE). */
  lrange(key: string, start: number, stop: number, options?: CallOptions): Promise<string[]>;
  llen(key: string, options?: CallOptions): Promise<number>;
  /** Keeps `start..stop` (inclusive, LTRIM); an emptied list is gone. */
  ltrim(key: string, start: number, stop: number, options?: WriteOptions): Promise<void>;
  /** Removes `count` occurrences of `value` from the head (count > 0), tail (< 0) or all (0) (LREM). */
  lrem(key: string, count: number, value: string, options?: WriteOptions): Promise<number>;
  hlen(key: string, options?: CallOptions): Promise<number>;
  hmget(key: string, fields: readonly string[], options?: CallOptions): Promise<(string | null)[]>;
  /** 0-based rank (ZRANK / ZREVRANK with `reverse`: highest score first); null for a missing member. */
  zrank(key: string, member: string, options?: { reverse?: boolean } & CallOptions): Promise<number | null>;
  // ---- end of collections ---------------------------------------------------------------------

  // ---- streams (message history, issue 16) ----------------------------------------------------
  /**
   * XADD with an id made by the store (`*`): `<ms>-<seq>`, strictly above every id the stream ever
   * had, even if the clock went back. With `maxLen`, trims exactly to the newest `maxLen` entries in
   * the same step (`MAXLEN =`), so both engines hold the same entries. Returns the new id.
   */
  xadd(key: string, fields: Readonly<Record<string, string>>, options?: { maxLen?: number } & WriteOptions): Promise<string>;
  /**
   * Entries between `start` and `end` (inclusive), oldest first (XRANGE). Bounds as in Redis: `-`,
   * `+`, `<ms>-<seq>`, `<ms>` alone, and a leading `(` for an exclusive bound.
   */
  xrange(key: string, start: string, end: string, options?: { count?: number } & CallOptions): Promise<StreamEntry[]>;
  /** Entries between `end` and `start`, newest first (XREVRANGE: the high bound comes first). */
  xrevrange(key: string, end: string, start: string, options?: { count?: number } & CallOptions): Promise<StreamEntry[]>;
  /** Entries in the stream; 0 when the key does not exist. */
  xlen(key: string, options?: CallOptions): Promise<number>;
  // ---- end of streams ---------------------------------------------------------------------------

  /**
   * Keys matching a glob over logical keys, in batches, from every master of a cluster. A key may
   * appear twice (SCAN's guarantee); escape user input with `escapeGlob`.
   */
  scan(pattern: string, options?: { count?: number } & CallOptions): AsyncIterable<string[]>;

  /**
   * Runs an atomic script: Lua on Redis (EVALSHA), its TypeScript twin in memory.
   * @internal The library's scripts only; their definitions are not public.
   */
  runScript(script: ScriptDefinition, keys: readonly string[], args: readonly (string | number)[], options?: ScriptOptions): Promise<ScriptReply>;

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

  /**
   * Removes every key under the engine's prefix (the whole memory store). On Redis it refuses to
   * run without a `keyPrefix` (it would empty the database) and while Redis is away (it is never
   * journaled: a replay would also remove what other instances wrote meanwhile).
   */
  clear(): Promise<void>;
  close(): Promise<void>;
}
