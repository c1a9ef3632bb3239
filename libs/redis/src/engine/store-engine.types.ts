/**
 * Values the port passes around. They live apart from the port so the memory store, which the port
 * reaches through script twins, can use them without importing the port back.
 */

/**
 * Where an engine serves from:
 * - `redis`: commands reach Redis;
 * - `fallback`: Redis is away and the in-process fallback answers (an outage);
 * - `embedded`: no Redis is configured and the in-process store is the store of record (no outage);
 * - `unavailable`: Redis is away and there is no fallback (`fallback: 'none'`): commands fail.
 */
export type EngineMode = 'redis' | 'fallback' | 'embedded' | 'unavailable';

/** Options every engine call accepts. */
export interface CallOptions {
  /**
   * `false`: reject with `RedisUnavailableError` instead of answering from the in-process fallback
   * while Redis is away. For fail-closed policies, where an answer from one process's memory would
   * be a guess. The embedded store still answers: it is the store of record, not a fallback.
   */
  fallback?: boolean;
}

/** Options of engine writes. */
export interface WriteOptions extends CallOptions {
  /**
   * When the write is served from memory because Redis is away, keep it and apply it to Redis on
   * recovery. For writes other instances must see: invalidations, session creation and revocation.
   */
  replayOnRecovery?: boolean;
}

/** `StoreEngine.set` options: TTL in milliseconds, and `nx`/`xx` as in Redis SET. */
export interface SetOptions extends WriteOptions {
  ttlMs?: number;
  nx?: boolean;
  xx?: boolean;
}

/** One entry of `StoreEngine.mset`. */
export interface MsetEntry {
  key: string;
  value: string;
  ttlMs?: number;
}

/** A sorted-set member and its score. */
export interface ZEntry {
  member: string;
  score: number;
}

/** Receives a pub/sub message on a subscribed channel. */
export type MessageHandler = (message: string, channel: string) => void;
/** Receives a pub/sub message on a channel matching a subscribed pattern. */
export type PatternMessageHandler = (message: string, channel: string, pattern: string) => void;
/** Ends a subscription. */
export type Unsubscribe = () => Promise<void>;

/** Called when `StoreEngine.mode()` changes, with a reason for logs. */
export type ModeListener = (mode: EngineMode, reason: string) => void;

/** Redis is back, but some writes made during the outage did not reach it. */
export interface ReplayIncomplete {
  /** Writes the journal could not keep because it was full. */
  dropped: number;
}
/** Called when Redis is back but some outage writes never reached it. */
export type ReplayIncompleteListener = (report: ReplayIncomplete) => void;
