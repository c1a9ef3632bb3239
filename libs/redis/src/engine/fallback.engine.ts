import { EventEmitter } from 'node:events';
import { RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';
import { DeadlineQueue } from './deadline.queue.js';
import type { MemoryEngine } from './memory.engine.js';
import type { RedisEngine } from './redis.engine.js';
import type { ScriptDefinition } from './script.types.js';
import type { StoreEngine } from './store-engine.port.js';
import type {
  CallOptions,
  EngineMode,
  MessageHandler,
  ModeListener,
  MsetEntry,
  PatternMessageHandler,
  ReplayIncomplete,
  ReplayIncompleteListener,
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
  journalLimit: number;
}

export interface FallbackEngineStats {
  mode: EngineMode;
  consecutiveFailures: number;
  /** Times the breaker opened since start. */
  opened: number;
  /** Times Redis came back and the breaker closed. */
  recovered: number;
  /** Writes waiting to be replayed to Redis. */
  journalSize: number;
  replayed: number;
  /** Writes that could not be kept because the journal was full. */
  journalDropped: number;
}

/**
 * Events: `mode` (new mode, reason) on every switch; `replay-incomplete` (dropped count) when Redis
 * returned but the journal had overflowed, so a capability can take a wider measure (a cache clears
 * its namespace rather than trust entries whose invalidation was lost).
 */
export interface FallbackEngineEvents {
  mode: [mode: EngineMode, reason: string];
  'replay-incomplete': [report: ReplayIncomplete];
}

type Op<T> = (engine: StoreEngine) => Promise<T>;

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
 */
export class FallbackEngine extends EventEmitter<FallbackEngineEvents> implements StoreEngine {
  private open = false;
  private failures = 0;
  private readonly deadline: DeadlineQueue;
  private readonly journal: Op<unknown>[] = [];
  private probeTimer?: NodeJS.Timeout;
  private probeDelay: number;
  private probing = false;
  private closed = false;
  private counters = { opened: 0, recovered: 0, replayed: 0, journalDropped: 0 };
  /** Set only by the metrics exporter: while unset, commands are not timed at all. */
  onCommand?: (durationMs: number, ok: boolean) => void;

  constructor(
    readonly primary: RedisEngine,
    readonly memory: MemoryEngine | null,
    private readonly options: FallbackEngineOptions,
  ) {
    super();
    this.deadline = new DeadlineQueue(options.commandTimeoutMs);
    this.probeDelay = options.probeIntervalMs;
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

  stats(): FallbackEngineStats {
    return { mode: this.mode(), consecutiveFailures: this.failures, journalSize: this.journal.length, ...this.counters };
  }

  /** The connection reported it is gone (socket closed, reconnecting): no need to wait for failures. */
  connectionLost(reason: string): void {
    this.openBreaker(reason);
  }

  /** The connection reported it is ready again: probe now instead of at the next backoff step. */
  connectionReady(): void {
    if (!this.open || this.closed) return;
    this.probeDelay = this.options.probeIntervalMs;
    this.scheduleProbe(0);
  }

  // ---- the port -------------------------------------------------------------------------------

  get(key: string, options?: CallOptions) {
    return this.exec((e) => e.get(key), options);
  }
  set(key: string, value: string, options?: SetOptions) {
    return this.exec((e) => e.set(key, value, options), options);
  }
  mget(keys: readonly string[], options?: CallOptions) {
    return this.exec((e) => e.mget(keys), options);
  }
  mset(entries: readonly MsetEntry[], options?: WriteOptions) {
    return this.exec((e) => e.mset(entries), options);
  }
  del(keys: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.del(keys), options);
  }
  exists(key: string, options?: CallOptions) {
    return this.exec((e) => e.exists(key), options);
  }
  pttl(key: string, options?: CallOptions) {
    return this.exec((e) => e.pttl(key), options);
  }
  pexpire(key: string, ttlMs: number, options?: WriteOptions) {
    return this.exec((e) => e.pexpire(key, ttlMs), options);
  }
  incrBy(key: string, by: number, options?: WriteOptions) {
    return this.exec((e) => e.incrBy(key, by), options);
  }
  hget(key: string, field: string, options?: CallOptions) {
    return this.exec((e) => e.hget(key, field), options);
  }
  hset(key: string, fields: Readonly<Record<string, string>>, options?: WriteOptions) {
    return this.exec((e) => e.hset(key, fields), options);
  }
  hgetall(key: string, options?: CallOptions) {
    return this.exec((e) => e.hgetall(key), options);
  }
  hdel(key: string, fields: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.hdel(key, fields), options);
  }
  sadd(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.sadd(key, members), options);
  }
  srem(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.srem(key, members), options);
  }
  smembers(key: string, options?: CallOptions) {
    return this.exec((e) => e.smembers(key), options);
  }
  sismember(key: string, member: string, options?: CallOptions) {
    return this.exec((e) => e.sismember(key, member), options);
  }
  zadd(key: string, entries: readonly ZEntry[], options?: WriteOptions) {
    return this.exec((e) => e.zadd(key, entries), options);
  }
  zincrby(key: string, by: number, member: string, options?: WriteOptions) {
    return this.exec((e) => e.zincrby(key, by, member), options);
  }
  zrem(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.zrem(key, members), options);
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
    return this.exec((e) => e.zremRangeByScore(key, min, max), options);
  }
  runScript(script: ScriptDefinition, keys: readonly string[], args: readonly (string | number)[], options?: WriteOptions) {
    return this.exec((e) => e.runScript(script, keys, args), options);
  }
  time(options?: CallOptions) {
    return this.exec((e) => e.time(), options);
  }
  publish(channel: string, message: string, options?: CallOptions) {
    return this.exec((e) => e.publish(channel, message), options);
  }
  clear() {
    return this.exec((e) => e.clear(), { replayOnRecovery: true });
  }

  /**
   * WAIT on Redis with its own deadline (its timeout plus the command deadline). A failure reads as
   * "no replica confirmed" and does not count against the breaker: WAIT is a question, not a write.
   */
  async wait(replicas: number, timeoutMs: number): Promise<number> {
    if (this.open) return 0;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<number>((resolve) => {
      timer = setTimeout(() => resolve(0), timeoutMs + this.options.commandTimeoutMs);
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
        if (!isAvailabilityError(error)) throw error;
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
   */
  subscribe(channel: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Unsubscribe> {
    return this.onBothSides((e) => e.subscribe(channel, handler, options));
  }

  psubscribe(pattern: string, handler: PatternMessageHandler): Promise<Unsubscribe> {
    return this.onBothSides((e) => e.psubscribe(pattern, handler));
  }

  private async onBothSides(add: (engine: StoreEngine) => Promise<Unsubscribe>): Promise<Unsubscribe> {
    const local = this.memory ? await add(this.memory) : undefined;
    const remote = await add(this.primary);
    return async () => {
      await local?.();
      await remote();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.deadline.rejectAll(new RedisUnavailableError('the Redis connection was closed'));
    await this.primary.close();
    await this.memory?.close();
  }

  // ---- the breaker ------------------------------------------------------------------------------

  // Promise chaining rather than an async function: this runs for every command.
  private exec<T>(op: Op<T>, options?: WriteOptions): Promise<T> {
    if (this.open) return this.degraded(op, options);
    const started = this.onCommand ? performance.now() : -1;
    return this.deadline.race(op(this.primary)).then(
      (result) => {
        this.recordSuccess();
        if (started >= 0) this.onCommand?.(performance.now() - started, true);
        return result;
      },
      (error: unknown) => {
        if (started >= 0) this.onCommand?.(performance.now() - started, false);
        if (!isAvailabilityError(error)) throw error;
        this.recordFailure(error);
        return this.degraded(op, options, error);
      },
    );
  }

  private degraded<T>(op: Op<T>, options?: WriteOptions, cause?: unknown): Promise<T> {
    if (!this.memory) return Promise.reject(new RedisUnavailableError('Redis is unavailable and the fallback is disabled', { cause }));
    if (options?.fallback === false) return Promise.reject(new RedisUnavailableError('Redis is unavailable (this call does not accept an answer from the fallback)', { cause }));
    if (options?.replayOnRecovery) {
      // Journaled before it runs, so a recovery finishing meanwhile cannot miss it; and a write
      // that must reach Redis opens the breaker even below the threshold, so the journal is replayed.
      this.remember(op);
      this.openBreaker(cause ? describe(cause) : 'a write could not reach Redis');
    }
    return op(this.memory);
  }

  private async *degradedScan(pattern: string, options?: { count?: number } & CallOptions, cause?: unknown): AsyncIterable<string[]> {
    if (!this.memory) throw new RedisUnavailableError('Redis is unavailable and the fallback is disabled', { cause });
    if (options?.fallback === false) throw new RedisUnavailableError('Redis is unavailable (this call does not accept an answer from the fallback)', { cause });
    yield* this.memory.scan(pattern, options);
  }

  private remember(op: Op<unknown>): void {
    if (this.journal.length >= this.options.journalLimit) {
      this.counters.journalDropped++;
      return;
    }
    this.journal.push(op);
  }

  private recordSuccess(): void {
    this.failures = 0;
  }

  private recordFailure(error: unknown): void {
    this.failures++;
    if (this.failures >= this.options.failureThreshold) this.openBreaker(describe(error));
  }

  private openBreaker(reason: string): void {
    if (this.open || this.closed) return;
    this.open = true;
    this.counters.opened++;
    this.probeDelay = this.options.probeIntervalMs;
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
    try {
      await this.deadline.race(this.primary.ping());
      // Replayed in order; a failure leaves the rest queued for the next probe. The emptiness check
      // and the switch happen in one synchronous step, so no outage write can slip in between.
      while (this.journal.length > 0) {
        await this.deadline.race(this.journal[0]!(this.primary));
        this.journal.shift();
        this.counters.replayed++;
      }
      this.closeBreaker();
    } catch {
      this.probeDelay = Math.min(this.probeDelay * 2, this.options.maxProbeIntervalMs);
      this.scheduleProbe(this.probeDelay);
    } finally {
      this.probing = false;
    }
  }

  private closeBreaker(): void {
    if (this.closed) return;
    this.open = false;
    this.failures = 0;
    this.counters.recovered++;
    const dropped = this.counters.journalDropped;
    this.counters.journalDropped = 0;
    // What memory held was either replayed or disposable; keeping it would serve it in the next outage.
    void this.memory?.clear();
    this.emit('mode', 'redis', 'Redis answered again');
    if (dropped > 0) this.emit('replay-incomplete', { dropped });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
