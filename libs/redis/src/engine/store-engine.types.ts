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

export interface CallOptions {
  /**
   * `false`: reject with `RedisUnavailableError` instead of answering from the in-process fallback
   * while Redis is away. For fail-closed policies, where an answer from one process's memory would
   * be a guess. The embedded store still answers: it is the store of record, not a fallback.
   */
  fallback?: boolean;
}

export interface WriteOptions extends CallOptions {
  /**
   * When the write is served from memory because Redis is away, keep it and apply it to Redis on
   * recovery. For writes other instances must see: invalidations, session creation and revocation.
   */
  replayOnRecovery?: boolean;
}

export interface SetOptions extends WriteOptions {
  ttlMs?: number;
  nx?: boolean;
  xx?: boolean;
  /**
   * Publish this message once the write is applied, in the same round trip: on one connection
   * SET then PUBLISH (Redis runs them in order), on a Cluster a script on the key's node. A
   * subscriber that hears it can already read the new value.
   */
  publish?: { channel: string; message: string };
}

export interface MsetEntry {
  key: string;
  value: string;
  ttlMs?: number;
}

export interface ZEntry {
  member: string;
  score: number;
}

export interface SubscribeOptions {
  /**
   * Told `false` when the subscription stops hearing messages (its connection closed: anything
   * published from now on may be lost) and `true` once it is active again. An engine that cannot
   * lose messages (memory) never calls it. For consumers that must act on a gap, like an L1 cache.
   */
  onState?: (live: boolean) => void;
}

export type MessageHandler = (message: string, channel: string) => void;
export type PatternMessageHandler = (message: string, channel: string, pattern: string) => void;
export type Unsubscribe = () => Promise<void>;

export type ModeListener = (mode: EngineMode, reason: string) => void;

/** Redis is back, but some writes made during the outage did not reach it. */
export interface ReplayIncomplete {
  /** Writes the journal could not keep because it was full. */
  dropped: number;
}
export type ReplayIncompleteListener = (report: ReplayIncomplete) => void;
