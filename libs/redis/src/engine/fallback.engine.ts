import { EventEmitter } from 'node:events';
import { ClearRefusedError, JournalFullError, RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';
import { DeadlineQueue, monotonicClock, type ClockSource } from './deadline.queue.js';
import { toPermissionError } from './permission.error.js';
import type { MemoryEngine } from './memory.engine.js';
import type { RedisEngine } from './redis.engine.js';
import type { ScriptDefinition } from './script.types.js';
import type { StoreEngine } from './store-engine.port.js';
import type {
  CallOptions,
  EngineMode,
  JournalClass,
  MessageHandler,
  ModeListener,
  MsetEntry,
  PatternMessageHandler,
  ReplayIncomplete,
  ReplayContext,
  ReplayIncompleteListener,
  ReplayRefused,
  ReplayRefusedListener,
  ScriptOptions,
  SetOptions,
  SubscribeOptions,
  Unsubscribe,
  WriteOptions,
  ZEntry,
} from './store-engine.types.js';

export interface FallbackEngineOptions {
  commandTimeoutMs: number;
  failureThreshold: number;
  probeIntervalMs: number;
  maxProbeIntervalMs: number;
  /** Bound on journaled invalidations and creations (see `JournalClass`). */
  journalLimit: number;
  /** Bound on journaled revocations and denies, kept apart so no other write can push one out. */
  securityJournalLimit?: number;
  /** Journaled writes sent to Redis together (pipelined) during a replay. */
  replayBatchSize?: number;
  /** Tries for a write Redis refuses on replay (OOM, NOPERM, MISCONF...) before it is reported. */
  replayAttempts?: number;
  /** Delay before the second try of a refused write; doubles for each further try. */
  replayRetryMs?: number;
  /** Clock source for deadlines and outage timing (monotonic `performance.now()` by default). */
  clock?: ClockSource;
}

export const FALLBACK_DEFAULTS = { securityJournalLimit: 10_000, replayBatchSize: 500, replayAttempts: 3, replayRetryMs: 250 } as const;

export interface FallbackEngineStats {
  mode: EngineMode;
  consecutiveFailures: number;
  /** Times the breaker opened since start. */
  opened: number;
  /** Times Redis came back and the breaker closed. */
  recovered: number;
  /** Writes waiting to be replayed to Redis (all classes). */
  journalSize: number;
  /** Of those, revocations and denies (bounded by `securityJournalLimit`). */
  securityJournalSize: number;
  replayed: number;
  /** Invalidations that could not be kept because the journal was full (since the last recovery). */
  journalDropped: number;
  /** Calls rejected with `JournalFullError` (a security write or a creation found its journal full). */
  journalRejected: number;
  /** Outage writes Redis refused on replay after every retry (each also emitted as `replay-refused`). */
  replayRefused: number;
  /** Refused security writes still being retried in the background; their capability fails closed. */
  refusedHeld: number;
  /** Commands that missed their deadline while Redis kept answering others (not counted as failures). */
  lateReplies: number;
}

/**
 * Events: `mode` (new mode, reason) on every switch; `replay-incomplete` (dropped count) when Redis
 * returned but the journal had overflowed, so a capability can take a wider measure (a cache clears
 * its namespace rather than trust entries whose invalidation was lost); `replay-refused` when Redis
 * refused an outage write after every retry.
 */
export interface FallbackEngineEvents {
  mode: [mode: EngineMode, reason: string];
  'replay-incomplete': [report: ReplayIncomplete];
  'replay-refused': [report: ReplayRefused];
}

type Op<T> = (engine: StoreEngine) => Promise<T>;

/** One journaled write. */
interface Entry {
  seq: number;
  run: (engine: StoreEngine, replay: ReplayContext) => Promise<unknown>;
  /** Logical keys it writes: two writes to one key are never reordered. */
  keys: readonly string[];
  /** A plain delete: deletes of one key commute, so they may share a batch. */
  commutes: boolean;
  journal: JournalClass;
  capability: string;
  script?: ScriptDefinition;
  attempts: number;
  reason?: string;
  /** Set for a write made while the replay ran: it was sent behind the journal and its caller waits. */
  settle?: (error: unknown, value?: unknown) => void;
  replay?: ReplayContext;
}

interface WriteSpec {
  keys: readonly string[];
  commutes?: boolean;
  script?: ScriptDefinition;
  /** The write as replayed (default: the op itself). */
  replay?: (engine: StoreEngine, replay: ReplayContext) => Promise<unknown>;
}

// Reply errors that mean "this node cannot serve right now", not "your command is wrong".
const UNAVAILABLE_REPLIES = /^(CLUSTERDOWN|LOADING|MASTERDOWN|READONLY|TRYAGAIN|NOREPLICAS|BUSY|MOVED|ASK)\b/;
const UNAVAILABLE_MESSAGES =
  /Connection is closed|Stream isn't writeable|connect E|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|Failed to refresh slots cache|None of (the )?startup nodes|Cluster isn't ready|All sentinels are unreachable|Too many Cluster redirections|Connection in subscriber mode/i;

/** True for errors that say Redis is unreachable or busy; false for errors in the command itself. */
export function isAvailabilityError(error: unknown): boolean {
  if (error instanceof RedisTimeoutError || error instanceof RedisUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLIES.test(error.message);
  if (error.name === 'MaxRetriesPerRequestError' || error.name === 'ClusterAllFailedError') return true;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && /^E(CONN|PIPE|TIMEDOUT|HOSTUNREACH|NOTFOUND|AI_AGAIN)/.test(code)) return true;
  return UNAVAILABLE_MESSAGES.test(error.message);
}

/**
 * A circuit breaker in front of Redis. Every command gets the deadline; consecutive availability
 * failures (or the connection reporting it is gone) open the breaker, and from then on commands are
 * served by the memory engine (or fail at once with `fallback: 'none'`) without touching Redis.
 * A background probe pings Redis with backoff; when it answers, the writes recorded during the
 * outage are replayed in order, the memory store is dropped and the breaker closes.
 *
 * A command that fails while the breaker is still closed is answered from memory too, so no caller
 * ever sees more than one deadline of waiting.
 *
 * Journal and replay (see `JournalClass`): one ordered log with a bound per class. The replay sends
 * it in pipelined batches (a batch never holds two writes to one key, deletes aside); journaled
 * writes made once the replay has started are not journaled but sent to Redis behind it, their
 * callers waiting for Redis' answer, so sustained writes cannot keep the journal from draining.
 * A write Redis refuses (a reply error that is not about availability) is retried with backoff
 * `replayAttempts` times, together with the writes to its keys queued behind it; then it is
 * reported (`replay-refused`) and dropped, or, for a security write, held and retried in the
 * background while its capability fails closed (`refusedWrites`). The rest goes on, so one refused
 * write never keeps the instance away from a Redis that answers.
 *
 * A late reply is not an outage: a command that misses its deadline while Redis keeps answering
 * other commands sent after it is counted as `lateReplies`, not as a failure (see also the
 * event-loop lag rule in `DeadlineQueue`). Its caller still gets its answer within the deadline.
 */
export class FallbackEngine extends EventEmitter<FallbackEngineEvents> implements StoreEngine {
  private open = false;
  private replaying = false;
  private failures = 0;
  private readonly deadline: DeadlineQueue;
  private readonly now: ClockSource;
  private readonly settings: Required<Omit<FallbackEngineOptions, 'clock'>>;
  private journal: Entry[] = [];
  private pending = { security: 0, general: 0 };
  private seq = 0;
  /** Keys a journaled delete will remove on replay, with no other journaled write to them since. */
  private readonly pendingDeletes = new Set<string>();
  /** Refused security writes (and the writes to their keys queued behind them), retried in the background. */
  private held: Entry[] = [];
  private heldTimer?: NodeJS.Timeout;
  private heldDelay: number;
  /** Replay batch size: halved when a batch misses its deadline (a slow Redis), grown back after. */
  private batchSize: number;
  /** Monotonic time of the last reply from Redis, and its value when the breaker last opened. */
  private lastReply: number;
  private contactBeforeOutage: number;
  /** Deadline queues for calls with their own `timeoutMs` (the rate limiter's decision ceiling). */
  private readonly callDeadlines = new Map<number, DeadlineQueue>();
  private probeTimer?: NodeJS.Timeout;
  private probeDelay: number;
  private probing = false;
  private closed = false;
  private counters = { opened: 0, recovered: 0, replayed: 0, journalDropped: 0, journalRejected: 0, replayRefused: 0, lateReplies: 0 };
  /** Set only by the metrics exporter: while unset, commands are not timed at all. */
  onCommand?: (durationMs: number, ok: boolean) => void;

  constructor(
    readonly primary: RedisEngine,
    readonly memory: MemoryEngine | null,
    options: FallbackEngineOptions,
  ) {
    super();
    const { clock, ...rest } = options;
    this.settings = { ...FALLBACK_DEFAULTS, ...definedOnly(rest) } as Required<Omit<FallbackEngineOptions, 'clock'>>;
    this.now = clock ?? monotonicClock;
    this.deadline = new DeadlineQueue(options.commandTimeoutMs, this.now);
    this.probeDelay = options.probeIntervalMs;
    this.heldDelay = options.probeIntervalMs;
    this.batchSize = this.settings.replayBatchSize;
    this.lastReply = this.contactBeforeOutage = this.now();
  }

  mode(): EngineMode {
    if (!this.open) return 'redis';
    return this.memory ? 'fallback' : 'unavailable';
  }

  onModeChange(listener: ModeListener): () => void {
    this.on('mode', listener);
    return () => this.off('mode', listener);
  }

  onReplayIncomplete(listener: ReplayIncompleteListener): () => void {
    this.on('replay-incomplete', listener);
    return () => this.off('replay-incomplete', listener);
  }

  onReplayRefused(listener: ReplayRefusedListener): () => void {
    this.on('replay-refused', listener);
    return () => this.off('replay-refused', listener);
  }

  refusedWrites(capability: string): number {
    let n = 0;
    for (const e of this.held) if (e.journal === 'security' && e.capability === capability) n++;
    return n;
  }

  stats(): FallbackEngineStats {
    return {
      mode: this.mode(),
      consecutiveFailures: this.failures,
      journalSize: this.journal.length,
      securityJournalSize: this.pending.security,
      refusedHeld: this.held.filter((e) => e.journal === 'security').length,
      ...this.counters,
    };
  }

  /** The connection reported it is gone (socket closed, reconnecting): no need to wait for failures. */
  connectionLost(reason: string): void {
    this.openBreaker(reason);
  }

  /** The connection reported it is ready again: probe now instead of at the next backoff step. */
  connectionReady(): void {
    if (!this.open || this.closed) return;
    this.probeDelay = this.settings.probeIntervalMs;
    this.scheduleProbe(0);
  }

  // ---- the port -------------------------------------------------------------------------------

  get(key: string, options?: CallOptions) {
    return this.exec((e) => e.get(key), options);
  }
  set(key: string, value: string, options?: SetOptions) {
    return this.exec((e) => e.set(key, value, options), options, { keys: [key] });
  }
  mget(keys: readonly string[], options?: CallOptions) {
    return this.exec((e) => e.mget(keys), options);
  }
  mset(entries: readonly MsetEntry[], options?: WriteOptions) {
    return this.exec((e) => e.mset(entries), options, { keys: entries.map((x) => x.key) });
  }
  del(keys: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.del(keys), options, { keys, commutes: true });
  }
  exists(key: string, options?: CallOptions) {
    return this.exec((e) => e.exists(key), options);
  }
  pttl(key: string, options?: CallOptions) {
    return this.exec((e) => e.pttl(key), options);
  }
  pexpire(key: string, ttlMs: number, options?: WriteOptions) {
    return this.exec((e) => e.pexpire(key, ttlMs), options, { keys: [key] });
  }
  incrBy(key: string, by: number, options?: WriteOptions) {
    return this.exec((e) => e.incrBy(key, by), options, { keys: [key] });
  }
  hget(key: string, field: string, options?: CallOptions) {
    return this.exec((e) => e.hget(key, field), options);
  }
  hset(key: string, fields: Readonly<Record<string, string>>, options?: WriteOptions) {
    return this.exec((e) => e.hset(key, fields), options, { keys: [key] });
  }
  hgetall(key: string, options?: CallOptions) {
    return this.exec((e) => e.hgetall(key), options);
  }
  hdel(key: string, fields: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.hdel(key, fields), options, { keys: [key] });
  }
  sadd(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.sadd(key, members), options, { keys: [key] });
  }
  srem(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.srem(key, members), options, { keys: [key] });
  }
  smembers(key: string, options?: CallOptions) {
    return this.exec((e) => e.smembers(key), options);
  }
  sismember(key: string, member: string, options?: CallOptions) {
    return this.exec((e) => e.sismember(key, member), options);
  }
  zadd(key: string, entries: readonly ZEntry[], options?: WriteOptions) {
    return this.exec((e) => e.zadd(key, entries), options, { keys: [key] });
  }
  zincrby(key: string, by: number, member: string, options?: WriteOptions) {
    return this.exec((e) => e.zincrby(key, by, member), options, { keys: [key] });
  }
  zrem(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.zrem(key, members), options, { keys: [key] });
  }
  zscore(key: string, member: string, options?: CallOptions) {
    return this.exec((e) => e.zscore(key, member), options);
  }
  zcard(key: string, options?: CallOptions) {
    return this.exec((e) => e.zcard(key), options);
  }
  zrange(key: string, start: number, stop: number, options?: { reverse?: boolean } & CallOptions) {
    return this.exec((e) => e.zrange(key, start, stop, options), options);
  }
  zrangeByScore(key: string, min: number, max: number, options?: { limit?: number } & CallOptions) {
    return this.exec((e) => e.zrangeByScore(key, min, max, options), options);
  }
  zremRangeByScore(key: string, min: number, max: number, options?: WriteOptions) {
    return this.exec((e) => e.zremRangeByScore(key, min, max), options, { keys: [key] });
  }
  // ---- collections: lists, hash size, multi-field reads, rank (issue 17) -------------------------
  lpush(key: string, values: readonly string[], options?: { cap?: number } & WriteOptions) {
    return this.exec((e) => e.lpush(key, values, { cap: options?.cap }), options);
  }
  rpush(key: string, values: readonly string[], options?: { cap?: number } & WriteOptions) {
    return this.exec((e) => e.rpush(key, values, { cap: options?.cap }), options);
  }
  lrange(key: string, start: number, stop: number, options?: CallOptions) {
    return this.exec((e) => e.lrange(key, start, stop), options);
  }
  llen(key: string, options?: CallOptions) {
    return this.exec((e) => e.llen(key), options);
  }
  ltrim(key: string, start: number, stop: number, options?: WriteOptions) {
    return this.exec((e) => e.ltrim(key, start, stop), options);
  }
  lrem(key: string, count: number, value: string, options?: WriteOptions) {
    return this.exec((e) => e.lrem(key, count, value), options);
  }
  hlen(key: string, options?: CallOptions) {
    return this.exec((e) => e.hlen(key), options);
  }
  hmget(key: string, fields: readonly string[], options?: CallOptions) {
    return this.exec((e) => e.hmget(key, fields), options);
  }
  zrank(key: string, member: string, options?: { reverse?: boolean } & CallOptions) {
    return this.exec((e) => e.zrank(key, member, options), options);
  }
  // ---- end of collections ---------------------------------------------------------------------
  runScript(script: ScriptDefinition, keys: readonly string[], args: readonly (string | number)[], options?: ScriptOptions) {
    const replayArgs = options?.replayArgs;
    return this.exec((e) => e.runScript(script, keys, args), options, {
      keys,
      script,
      replay: replayArgs ? (e, replay) => e.runScript(script, keys, replayArgs(replay)) : undefined,
    });
  }
  time(options?: CallOptions) {
    return this.exec((e) => e.time(), options);
  }
  publish(channel: string, message: string, options?: CallOptions) {
    return this.exec((e) => e.publish(channel, message), options);
  }

  /**
   * Refused without a `keyPrefix` (it would empty the database) and while Redis is away: a clear
   * is never journaled, since replayed later it would also remove what others wrote meanwhile.
   */
  async clear(): Promise<void> {
    if (!this.primary.keyPrefix) throw new ClearRefusedError('clear() needs a keyPrefix: without one it would remove every key in the Redis database');
    if (this.open) throw new RedisUnavailableError('Redis is unavailable; clear() is not journaled (a later replay would remove newer data), try again when it is back');
    return this.primary.clear();
  }

  /**
   * WAIT on Redis with its own deadline (its timeout plus the command deadline). A failure reads as
   * "no replica confirmed" and does not count against the breaker: WAIT is a question, not a write.
   */
  async wait(replicas: number, timeoutMs: number): Promise<number> {
    if (this.open) return 0;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<number>((resolve) => {
      timer = setTimeout(() => resolve(0), timeoutMs + this.settings.commandTimeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([this.primary.wait(replicas, timeoutMs).catch(() => 0), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Latency of Redis itself; rejects while Redis is unreachable (a memory answer would be a lie). */
  async ping(): Promise<number> {
    if (this.open) throw new RedisUnavailableError('Redis is unavailable (serving from the fallback)');
    return this.deadline.race(this.primary.ping());
  }

  async *scan(pattern: string, options?: { count?: number } & CallOptions): AsyncIterable<string[]> {
    if (this.open) {
      yield* this.degradedScan(pattern, options);
      return;
    }
    const iterator = this.primary.scan(pattern, options)[Symbol.asyncIterator]();
    for (;;) {
      let step: IteratorResult<string[]>;
      try {
        step = await this.deadline.race(iterator.next());
      } catch (error) {
        if (!isAvailabilityError(error)) throw toPermissionError(error);
        this.recordFailure(error);
        // SCAN may return a key twice anyway, so restarting on the fallback keeps its contract.
        yield* this.degradedScan(pattern, options, error);
        return;
      }
      if (step.done) return;
      this.recordSuccess();
      yield step.value;
    }
  }

  /**
   * Subscribes on both sides: Redis carries messages between instances while it is up (and the
   * Redis engine re-subscribes when it returns), memory carries them within the instance meanwhile.
   * Redis' side waits a bounded time (`RedisEngine`): the subscription is registered either way
   * and becomes active when Redis answers, so a stalled Redis cannot hold up start-up.
   */
  subscribe(channel: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Unsubscribe> {
    return this.onBothSides((e) => e.subscribe(channel, handler, options));
  }

  psubscribe(pattern: string, handler: PatternMessageHandler): Promise<Unsubscribe> {
    return this.onBothSides((e) => e.psubscribe(pattern, handler));
  }

  private async onBothSides(add: (engine: StoreEngine) => Promise<Unsubscribe>): Promise<Unsubscribe> {
    const local = this.memory ? await add(this.memory) : undefined;
    const adding = add(this.primary);
    // While Redis is known to be away, do not wait for it: the subscription is registered and
    // starts flowing when the subscriber connection is ready again.
    const remote = this.open ? undefined : await adding;
    adding.catch(() => undefined);
    return async () => {
      await local?.();
      await (remote ?? (await adding))();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.heldTimer) clearTimeout(this.heldTimer);
    const gone = new RedisUnavailableError('the Redis connection was closed');
    for (const e of this.journal) e.settle?.(gone);
    this.deadline.rejectAll(gone);
    for (const q of this.callDeadlines.values()) q.rejectAll(gone);
    await this.primary.close();
    await this.memory?.close();
  }

  // ---- the breaker ------------------------------------------------------------------------------

  // Promise chaining rather than an async function: this runs for every command.
  private exec<T>(op: Op<T>, options?: WriteOptions, write?: WriteSpec): Promise<T> {
    const journal = write && journalOf(options);
    if (journal && this.replaying) return this.behindReplay(op, options!, journal, write);
    if (this.open) return this.degraded(op, options, undefined, write);
    const sent = this.now();
    return this.deadlineFor(options).race(op(this.primary)).then(
      (result) => {
        this.recordSuccess();
        if (this.onCommand) this.onCommand(this.now() - sent, true);
        return result;
      },
      (error: unknown) => {
        this.onCommand?.(this.now() - sent, false);
        if (!isAvailabilityError(error)) throw toPermissionError(error);
        if (error instanceof RedisTimeoutError && this.lastReply > sent) {
          // Redis answered commands sent after this one: a late reply, not an outage. A journaled
          // write's outcome is unknown, so its caller is told rather than the write kept twice.
          this.counters.lateReplies++;
          if (journal) throw error;
          return this.degraded(op, options, error);
        }
        this.recordFailure(error);
        return this.degraded(op, options, error, write);
      },
    );
  }

  /** The deadline of a call: `commandTimeoutMs`, or the call's own `timeoutMs`. */
  private deadlineFor(options?: CallOptions): DeadlineQueue {
    const ms = options?.timeoutMs;
    if (ms === undefined || ms === this.settings.commandTimeoutMs || !(ms > 0)) return this.deadline;
    let queue = this.callDeadlines.get(ms);
    if (!queue) {
      queue = new DeadlineQueue(ms, this.now);
      this.callDeadlines.set(ms, queue);
    }
    return queue;
  }

  private degraded<T>(op: Op<T>, options?: WriteOptions, cause?: unknown, write?: WriteSpec): Promise<T> {
    if (!this.memory) return Promise.reject(new RedisUnavailableError('Redis is unavailable and the fallback is disabled', { cause }));
    if (options?.fallback === false) return Promise.reject(new RedisUnavailableError('Redis is unavailable (this call does not accept an answer from the fallback)', { cause }));
    const journal = write && journalOf(options);
    if (journal) {
      // Journaled before it runs, so a recovery finishing meanwhile cannot miss it; and a write
      // that must reach Redis opens the breaker even below the threshold, so the journal is replayed.
      const full = this.remember(this.entry(op, options!, journal, write));
      if (full) return Promise.reject(full);
      this.openBreaker(cause ? describe(cause) : 'a write could not reach Redis');
    }
    return op(this.memory);
  }

  /** A journaled write made while the replay runs: sent to Redis after the journal, in order. */
  private behindReplay<T>(op: Op<T>, options: WriteOptions, journal: JournalClass, write: WriteSpec): Promise<T> {
    return this.deadline.race(
      new Promise<T>((resolve, reject) => {
        const entry = this.entry(op, options, journal, { ...write, replay: undefined });
        entry.settle = (error, value) => (error === undefined ? resolve(value as T) : reject(error));
        this.journal.push(entry);
      }),
    );
  }

  private entry(op: Op<unknown>, options: WriteOptions, journal: JournalClass, write: WriteSpec): Entry {
    return {
      seq: this.seq++,
      run: write.replay ?? ((engine) => op(engine)),
      keys: write.keys,
      commutes: write.commutes === true,
      journal,
      capability: options.capability ?? 'unknown',
      script: write.script,
      attempts: 0,
    };
  }

  private async *degradedScan(pattern: string, options?: { count?: number } & CallOptions, cause?: unknown): AsyncIterable<string[]> {
    if (!this.memory) throw new RedisUnavailableError('Redis is unavailable and the fallback is disabled', { cause });
    if (options?.fallback === false) throw new RedisUnavailableError('Redis is unavailable (this call does not accept an answer from the fallback)', { cause });
    yield* this.memory.scan(pattern, options);
  }

  /** Keeps `entry` for replay; returns the error to reject with when its journal is full. */
  private remember(entry: Entry): JournalFullError | undefined {
    const security = entry.journal === 'security';
    const limit = security ? this.settings.securityJournalLimit : this.settings.journalLimit;
    if ((security ? this.pending.security : this.pending.general) >= limit) {
      if (entry.journal === 'invalidation') {
        this.counters.journalDropped++;
        return undefined;
      }
      this.counters.journalRejected++;
      return new JournalFullError(security ? 'security' : 'write', limit);
    }
    if (entry.commutes) {
      // A delete already waiting for the same keys, with no other journaled write to them since,
      // has the same effect on replay: a hot key invalidated in a loop costs one entry.
      if (entry.keys.every((k) => this.pendingDeletes.has(k))) return undefined;
      for (const k of entry.keys) this.pendingDeletes.add(k);
    } else {
      for (const k of entry.keys) this.pendingDeletes.delete(k);
    }
    if (security) this.pending.security++;
    else this.pending.general++;
    this.journal.push(entry);
    return undefined;
  }

  private forget(entry: Entry): void {
    if (entry.settle) return;
    if (entry.journal === 'security') this.pending.security--;
    else this.pending.general--;
  }

  private recordSuccess(): void {
    this.failures = 0;
    this.lastReply = this.now();
  }

  private recordFailure(error: unknown): void {
    this.failures++;
    if (this.failures >= this.settings.failureThreshold) this.openBreaker(describe(error));
  }

  private openBreaker(reason: string): void {
    if (this.open || this.closed) return;
    this.open = true;
    this.contactBeforeOutage = this.lastReply;
    this.counters.opened++;
    this.probeDelay = this.settings.probeIntervalMs;
    this.emit('mode', this.mode(), reason);
    this.scheduleProbe(this.probeDelay);
  }

  private scheduleProbe(delay: number): void {
    if (this.closed) return;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => void this.probe(), delay);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    if (this.probing || !this.open || this.closed) return;
    this.probing = true;
    let refused: Entry[] = [];
    try {
      await this.deadline.race(this.primary.ping());
      this.replaying = true;
      const replay = await this.replayContext();
      refused = await this.pass(this.journal, replay);
      for (let attempt = 2; refused.length > 0 && attempt <= this.settings.replayAttempts; attempt++) {
        await sleep(this.settings.replayRetryMs * 2 ** (attempt - 2));
        if (this.closed) return;
        refused = await this.pass(refused, replay);
      }
      this.giveUp(refused.splice(0));
      // Writes made meanwhile were queued behind; the emptiness check and the switch happen in one
      // synchronous step, so no write can slip in between.
      while (this.journal.length > 0) this.giveUp(await this.pass(this.journal, replay));
      this.replaying = false;
      this.closeBreaker();
    } catch {
      // Redis went away again: what was not written waits, in order, for the next probe.
      if (refused.length > 0) this.journal = [...refused, ...this.journal].sort((a, b) => a.seq - b.seq);
      this.replaying = false;
      this.probeDelay = Math.min(this.probeDelay * 2, this.settings.maxProbeIntervalMs);
      this.scheduleProbe(this.probeDelay);
    } finally {
      this.probing = false;
    }
  }

  /** When the outage began on the Redis clock, erring early by one command deadline. */
  private async replayContext(): Promise<ReplayContext> {
    const asked = this.now();
    const redisNow = await this.deadline.race(this.primary.time());
    return { outageStartedAt: Math.floor(redisNow - (asked - this.contactBeforeOutage) - this.settings.commandTimeoutMs) };
  }

  /**
   * Sends `queue` to Redis in pipelined batches, emptying it. Returns the writes Redis refused,
   * with the writes to their keys that were queued behind them, in order. If Redis becomes
   * unreachable, what was not written goes back into `queue`, in order, and this throws.
   */
  private async pass(queue: Entry[], replay: ReplayContext): Promise<Entry[]> {
    const refused: Entry[] = [];
    const blocked = new Set<string>();
    const loaded = new Set<string>();
    while (queue.length > 0) {
      const batch: Entry[] = [];
      const inBatch = new Map<string, boolean>();
      while (queue.length > 0 && batch.length < this.batchSize) {
        const e = queue[0]!;
        if (e.keys.some((k) => blocked.has(k))) {
          queue.shift();
          e.replay ??= replay;
          refused.push(e);
          continue;
        }
        if (e.keys.some((k) => inBatch.has(k) && !(e.commutes && inBatch.get(k)))) break;
        queue.shift();
        batch.push(e);
        for (const k of e.keys) inBatch.set(k, e.commutes && inBatch.get(k) !== false);
      }
      if (batch.length === 0) continue;
      const scripts = batch.map((e) => e.script).filter((x): x is ScriptDefinition => x !== undefined && !loaded.has(x.commandName));
      let results: PromiseSettledResult<unknown>[];
      try {
        // After a restart Redis has no scripts: loaded first, so an EVALSHA retried as EVAL cannot
        // land behind a later write of the same batch.
        if (scripts.length > 0) await this.deadline.race(this.primary.loadScripts(scripts));
        for (const x of scripts) loaded.add(x.commandName);
        // Journaled deletes of a batch go out as one UNLINK (split by slot on a Cluster).
        const deletes = batch.filter((e) => e.commutes && !e.settle);
        const merged = deletes.length > 1 ? this.deadline.race(this.primary.del([...new Set(deletes.flatMap((e) => e.keys))])) : undefined;
        results = await Promise.allSettled(batch.map((e) => (merged && e.commutes && !e.settle ? merged : this.deadline.race(e.run(this.primary, e.replay ?? replay)))));
      } catch (error) {
        results = batch.map(() => ({ status: 'rejected', reason: error }));
      }
      let unreachable: unknown;
      const unsent: Entry[] = [];
      batch.forEach((e, i) => {
        const r = results[i]!;
        if (r.status === 'fulfilled') {
          this.forget(e);
          if (e.commutes) for (const k of e.keys) this.pendingDeletes.delete(k);
          this.counters.replayed++;
          e.settle?.(undefined, r.value);
        } else if (isAvailabilityError(r.reason)) {
          unreachable ??= r.reason;
          unsent.push(e);
        } else if (e.settle) {
          // A live write sent behind the replay: its caller sees Redis' answer, as always.
          e.settle(r.reason);
        } else {
          e.attempts++;
          e.reason = replyWord(r.reason);
          e.replay ??= replay;
          refused.push(e);
          for (const k of e.keys) blocked.add(k);
        }
      });
      // A batch Redis could not answer within the deadline is too big for it now: halve the next.
      if (unreachable instanceof RedisTimeoutError) this.batchSize = Math.max(1, this.batchSize >> 1);
      else if (unreachable === undefined) this.batchSize = Math.min(this.settings.replayBatchSize, this.batchSize * 2);
      if (unreachable !== undefined) {
        const back = [...refused, ...unsent, ...queue].sort((a, b) => a.seq - b.seq);
        queue.length = 0;
        for (const e of back) queue.push(e);
        throw unreachable;
      }
    }
    return refused;
  }

  /**
   * Reports writes Redis kept refusing. A security write is held, with whatever was queued behind
   * it, and retried in the background; anything else is dropped (an invalidation counts towards
   * `replay-incomplete`). Writes that were only waiting behind a dropped one go on.
   */
  private giveUp(refused: Entry[]): void {
    const blocked = new Set<string>();
    const release: Entry[] = [];
    for (const e of refused) {
      const behindHeld = e.keys.some((k) => blocked.has(k));
      if (e.attempts === 0 || e.settle) {
        if (behindHeld) this.hold(e);
        else release.push(e);
        continue;
      }
      this.counters.replayRefused++;
      const outcome = e.journal === 'security' || behindHeld ? 'held' : 'dropped';
      this.emit('replay-refused', { capability: e.capability, journal: e.journal, reason: e.reason ?? 'ERR', attempts: e.attempts, outcome });
      if (outcome === 'held') {
        this.hold(e);
        for (const k of e.keys) blocked.add(k);
      } else {
        this.forget(e);
        if (e.journal === 'invalidation') this.counters.journalDropped++;
      }
    }
    if (release.length > 0) this.journal = [...release, ...this.journal];
  }

  private hold(e: Entry): void {
    this.forget(e);
    this.held.push(e);
    this.scheduleHeldRetry();
  }

  private scheduleHeldRetry(): void {
    if (this.heldTimer || this.closed) return;
    this.heldTimer = setTimeout(() => void this.retryHeld(), this.heldDelay);
    this.heldTimer.unref();
  }

  /** Background retries of held security writes, while Redis serves everything else. */
  private async retryHeld(): Promise<void> {
    this.heldTimer = undefined;
    if (this.closed || this.held.length === 0) return;
    if (!this.open) {
      // Sent from a copy: until Redis has taken a write, its capability must keep failing closed.
      const tried = [...this.held];
      let still: Entry[] | undefined;
      try {
        still = await this.pass([...tried], { outageStartedAt: 0 });
      } catch {
        // Redis went away: they wait for the next try, in order.
      }
      if (still) {
        const written = new Set(tried.filter((e) => !still.includes(e)));
        this.held = this.held.filter((e) => !written.has(e));
      }
      this.heldDelay = still && still.length < tried.length ? this.settings.probeIntervalMs : Math.min(this.heldDelay * 2, this.settings.maxProbeIntervalMs);
    }
    this.scheduleHeldRetry();
  }

  private closeBreaker(): void {
    if (this.closed) return;
    this.open = false;
    this.failures = 0;
    this.lastReply = this.now();
    this.counters.recovered++;
    this.pendingDeletes.clear();
    const dropped = this.counters.journalDropped;
    this.counters.journalDropped = 0;
    // What memory held was either replayed or disposable; keeping it would serve it in the next outage.
    void this.memory?.clear();
    this.emit('mode', 'redis', 'Redis answered again');
    if (dropped > 0) this.emit('replay-incomplete', { dropped });
  }
}

function journalOf(options: WriteOptions | undefined): JournalClass | undefined {
  const r = options?.replayOnRecovery;
  if (!r) return undefined;
  return r === true ? 'invalidation' : r;
}

/** The first word of a Redis error that names its kind (OOM, NOPERM...): never the command or its arguments. */
function replyWord(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /\b(OOM|NOPERM|MISCONF|NOSCRIPT|WRONGTYPE|NOAUTH|EXECABORT)\b/.exec(message)?.[1] ?? (/^[A-Z]{2,20}\b/.exec(message)?.[0] ?? 'ERR');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
