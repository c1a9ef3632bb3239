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
  /**
   * This call's deadline in ms instead of `commandTimeoutMs`: how long its reply may still decide.
   * For callers whose answer only Redis can give and for whom a late reply (event-loop lag under a
   * burst) beats a guess from memory: the rate limiter passes its decision ceiling. Ignored by the
   * in-process engines, which answer at once.
   */
  timeoutMs?: number;
}

/**
 * How a write served from memory while Redis is away reaches Redis when it returns. The journal is
 * one ordered log (a creation and its revocation replay in the order they happened) with a bound
 * per class:
 * - `'invalidation'` (also `true`): cache invalidations. Past `breaker.journalLimit` a write is
 *   dropped and counted; on recovery `replay-incomplete` asks capabilities to take a wider measure.
 * - `'durable'`: writes with no wider measure (session creations). Past `breaker.journalLimit` the
 *   call rejects with `JournalFullError`: never resolved and then lost.
 * - `'security'`: revocations and denies. Bounded apart by `breaker.securityJournalLimit`, so no
 *   burst of other writes can push one out; when full the call rejects with `JournalFullError`.
 *   If Redis refuses one on replay, the capability that wrote it stays fail-closed until it is
 *   written (`StoreEngine.refusedWrites`).
 */
export type JournalClass = 'invalidation' | 'durable' | 'security';

/** Options of an engine write: whether and how it is journaled for replay when served from memory during an outage. */
export interface WriteOptions extends CallOptions {
  /**
   * When the write is served from memory because Redis is away, keep it and apply it to Redis on
   * recovery (see `JournalClass`; `true` means `'invalidation'`). For writes other instances must
   * see: invalidations, session creation and revocation, denies.
   */
  replayOnRecovery?: boolean | JournalClass;
  /**
   * What recovery applies for a journaled write: the write itself (`'write'`, the default), or a
   * delete of the keys it wrote (`'delete'`). For a value that may be older than what another
   * instance wrote meanwhile, such as a cache entry: recovery forgets it everywhere rather than
   * restoring the value it replaced or overwriting a newer one.
   */
  replayAs?: 'write' | 'delete';
  /** Names the capability in replay reports (`replay-refused`) and in `refusedWrites(capability)`. */
  capability?: string;
}

/** What a replayed write may know about the outage it was made in. */
export interface ReplayContext {
  /**
   * A moment on the Redis clock (epoch ms) no later than the start of the outage: every write in
   * the journal was made after it. Measured on the monotonic clock from the last reply Redis gave,
   * minus one command deadline, so it errs early.
   */
  outageStartedAt: number;
}

/** What a replayed write may read from Redis before it is sent (see `ScriptOptions.replayArgs`). */
export interface ReplayReader {
  get(key: string): Promise<string | null>;
}

export interface ScriptOptions extends WriteOptions {
  /**
   * The arguments to send instead of `args` when the write is replayed after an outage. It may
   * read Redis first (`redis`) for what the script cannot reach itself, such as a key in another
   * hash slot.
   */
  replayArgs?: (replay: ReplayContext, redis: ReplayReader) => readonly (string | number)[] | Promise<readonly (string | number)[]>;
}

/** `StoreEngine.set` options: TTL in milliseconds, and `nx`/`xx` as in Redis SET. */
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

/** One entry of `StoreEngine.mset`. */
export interface MsetEntry {
  key: string;
  value: string;
  ttlMs?: number;
}

/** One entry of a stream: its id (`<ms>-<seq>`) and its fields. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

/** A sorted-set member and its score. */
export interface ZEntry {
  member: string;
  score: number;
}

/** Options of `StoreEngine.subscribe`. */
export interface SubscribeOptions {
  /**
   * Told `false` when the subscription stops hearing messages (its connection closed: anything
   * published from now on may be lost) and `true` once it is active again. An engine that cannot
   * lose messages (memory) never calls it. For consumers that must act on a gap, like an L1 cache.
   */
  onState?: (live: boolean) => void;
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

/** Redis refused (not "could not be reached") a write made during the outage, after every retry. */
export interface ReplayRefused {
  /** The capability that made the write (`WriteOptions.capability`), or `'unknown'`. */
  capability: string;
  journal: JournalClass;
  /** The first word of Redis' reply (`OOM`, `NOPERM`, `MISCONF`...); never the command or its arguments. */
  reason: string;
  attempts: number;
  /**
   * `'held'`: a security write, kept and retried in the background; its capability stays
   * fail-closed until it is written. `'dropped'`: given up (an invalidation also counts towards
   * `replay-incomplete`).
   */
  outcome: 'held' | 'dropped';
}
export type ReplayRefusedListener = (report: ReplayRefused) => void;
