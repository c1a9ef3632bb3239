import { ClearRefusedError, RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';
import { DeadlineQueue, monotonicClock, type ClockSource } from './deadline.queue.js';
import { describe, isAvailabilityError } from './fallback.availability.js';
import { FallbackJournal, journalOf, type Op, type WriteSpec } from './fallback.journal.js';
import { FallbackPort } from './fallback.port.js';
import { FallbackReplay } from './fallback.replay.js';
import { FALLBACK_DEFAULTS, type FallbackEngineOptions, type FallbackEngineStats } from './fallback.types.js';
import { toPermissionError } from './permission.error.js';
import type { MemoryEngine } from './memory.engine.js';
import type { RedisEngine } from './redis.engine.js';
import type { StoreEngine } from './store-engine.port.js';
import type {
  CallOptions,
  EngineMode,
  JournalClass,
  MessageHandler,
  ModeListener,
  PatternMessageHandler,
  ReplayContext,
  ReplayIncompleteListener,
  ReplayRefusedListener,
  SubscribeOptions,
  Unsubscribe,
  WriteOptions,
} from './store-engine.types.js';

/** The longest wait between probes while a revocation or deny waits in the journal. */
const SECURITY_PROBE_CEILING_MS = 1_000;

// Moved out to keep this file to the breaker; re-exported so `fallback.engine.js` stays the import path.
export { isAvailabilityError } from './fallback.availability.js';
export { FALLBACK_DEFAULTS, type FallbackEngineEvents, type FallbackEngineOptions, type FallbackEngineStats } from './fallback.types.js';

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
 * Journal and replay (see `JournalClass`): writes are kept in `FallbackJournal` and replayed by
 * `FallbackReplay`. Journaled writes made once the replay has started are not journaled but sent
 * to Redis behind it, their callers waiting for Redis' answer, so sustained writes cannot keep the
 * journal from draining.
 *
 * A late reply is not an outage: a command that misses its deadline while Redis keeps answering
 * other commands sent after it is counted as `lateReplies`, not as a failure (see also the
 * event-loop lag rule in `DeadlineQueue`). Its caller still gets its answer within the deadline.
 */
export class FallbackEngine extends FallbackPort implements StoreEngine {
  private open = false;
  private replaying = false;
  private failures = 0;
  private readonly deadline: DeadlineQueue;
  private readonly now: ClockSource;
  private readonly settings: Required<Omit<FallbackEngineOptions, 'clock'>>;
  private readonly journal: FallbackJournal;
  private readonly replayer: FallbackReplay;
  /** Monotonic time of the last reply from Redis, and its value when the breaker last opened. */
  private lastReply: number;
  private contactBeforeOutage: number;
  /** Deadline queues for calls with their own `timeoutMs` (the rate limiter's decision ceiling). */
  private readonly callDeadlines = new Map<number, DeadlineQueue>();
  private probeTimer?: NodeJS.Timeout;
  private probeDelay: number;
  private probing = false;
  /** The connection came back while a probe was out: the next one goes at once, not after the backoff. */
  private probeAgain = false;
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
    this.journal = new FallbackJournal(this.settings, this.counters);
    this.replayer = new FallbackReplay({
      primary,
      deadline: this.deadline,
      journal: this.journal,
      settings: this.settings,
      counters: this.counters,
      isOpen: () => this.open,
      isClosed: () => this.closed,
      refused: (report) => this.emit('replay-refused', report),
    });
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
    return this.replayer.refusedWrites(capability);
  }

  stats(): FallbackEngineStats {
    return {
      mode: this.mode(),
      consecutiveFailures: this.failures,
      journalSize: this.journal.entries.length,
      securityJournalSize: this.journal.pending.security,
      refusedHeld: this.replayer.refusedWrites(),
      ...this.counters,
    };
  }

  /** The connection reported it is gone (socket closed, reconnecting): no need to wait for failures. */
  connectionLost(reason: string): void {
    this.openBreaker(reason);
  }

  /** The connection reported it is ready again: probe now instead of at the next backoff step. */
  connectionReady(): void {
    this.probeNow();
  }

  /**
   * Before closing: keeps probing (every `probeIntervalMs`) until Redis has taken every write made
   * while it was away, or `timeoutMs` passes. Resolves true when nothing is left unwritten.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = this.now() + timeoutMs;
    while (!this.closed) {
      if (this.unwritten() === 0) return true;
      if (this.now() >= deadline) return false;
      this.probeNow();
      // A referenced timer: in a process with nothing else left, the wait itself must keep it alive.
      await new Promise((r) => setTimeout(r, Math.min(this.settings.probeIntervalMs, Math.max(1, deadline - this.now()))));
    }
    return this.unwritten() === 0;
  }

  /** Writes made while Redis was away that Redis does not hold yet (journaled, or refused and held). */
  unwritten(): number {
    // Counted by the journal's bounds, not its queue: a write the replay has taken out of the queue
    // (in a batch, or waiting between retries of a refusal) is not written until Redis took it.
    return this.journal.pending.security + this.journal.pending.general + this.replayer.refusedWrites();
  }

  private probeNow(): void {
    if (!this.open || this.closed) return;
    this.probeDelay = this.settings.probeIntervalMs;
    if (this.probing) this.probeAgain = true;
    else this.scheduleProbe(0);
  }

  // ---- the port: the commands are in FallbackPort; these are the ones with their own rules -----

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
    this.replayer.stop();
    const gone = new RedisUnavailableError('the Redis connection was closed');
    for (const e of this.journal.entries) e.settle?.(gone);
    this.deadline.rejectAll(gone);
    for (const q of this.callDeadlines.values()) q.rejectAll(gone);
    await this.primary.close();
    await this.memory?.close();
  }

  // ---- the breaker ------------------------------------------------------------------------------

  // Promise chaining rather than an async function: this runs for every command.
  protected exec<T>(op: Op<T>, options?: WriteOptions, write?: WriteSpec): Promise<T> {
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
      const full = this.journal.remember(this.journal.entry(op, options!, journal, write));
      if (full) return Promise.reject(full);
      this.openBreaker(cause ? describe(cause) : 'a write could not reach Redis');
    }
    return op(this.memory);
  }

  /** A journaled write made while the replay runs: sent to Redis after the journal, in order. */
  private behindReplay<T>(op: Op<T>, options: WriteOptions, journal: JournalClass, write: WriteSpec): Promise<T> {
    return this.deadline.race(
      new Promise<T>((resolve, reject) => {
        const entry = this.journal.entry(op, options, journal, { ...write, replay: undefined });
        entry.settle = (error, value) => (error === undefined ? resolve(value as T) : reject(error));
        this.journal.entries.push(entry);
      }),
    );
  }

  private async *degradedScan(pattern: string, options?: { count?: number } & CallOptions, cause?: unknown): AsyncIterable<string[]> {
    if (!this.memory) throw new RedisUnavailableError('Redis is unavailable and the fallback is disabled', { cause });
    if (options?.fallback === false) throw new RedisUnavailableError('Redis is unavailable (this call does not accept an answer from the fallback)', { cause });
    yield* this.memory.scan(pattern, options);
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
    try {
      await this.deadline.race(this.primary.ping());
      this.replaying = true;
      const replay = await this.replayContext();
      if (!(await this.replayer.drain(replay))) return;
      // Synchronously after the journal was found empty, so no write can slip in between.
      this.replaying = false;
      this.closeBreaker();
    } catch {
      // Redis went away again: what was not written waits, in order, for the next probe.
      this.replaying = false;
      this.probeDelay = Math.min(this.probeDelay * 2, this.maxProbeDelay());
      this.scheduleProbe(this.probeAgain ? 0 : this.probeDelay);
    } finally {
      this.probing = false;
      this.probeAgain = false;
    }
  }

  /**
   * While the journal holds a revocation or a deny, every other instance keeps accepting what it
   * revokes until this one replays: the backoff stops at a second then, whatever the setting.
   */
  private maxProbeDelay(): number {
    return this.journal.pending.security > 0 ? Math.min(this.settings.maxProbeIntervalMs, SECURITY_PROBE_CEILING_MS) : this.settings.maxProbeIntervalMs;
  }

  /** When the outage began on the Redis clock, erring early by one command deadline. */
  private async replayContext(): Promise<ReplayContext> {
    const asked = this.now();
    const redisNow = await this.deadline.race(this.primary.time());
    return { outageStartedAt: Math.floor(redisNow - (asked - this.contactBeforeOutage) - this.settings.commandTimeoutMs) };
  }

  private closeBreaker(): void {
    if (this.closed) return;
    this.open = false;
    this.failures = 0;
    this.lastReply = this.now();
    this.counters.recovered++;
    this.journal.pendingDeletes.clear();
    const dropped = this.counters.journalDropped;
    this.counters.journalDropped = 0;
    // What memory held was either replayed or disposable; keeping it would serve it in the next outage.
    void this.memory?.clear();
    this.emit('mode', 'redis', 'Redis answered again');
    if (dropped > 0) this.emit('replay-incomplete', { dropped });
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
