import { RedisTimeoutError } from '../redis.errors.js';
import { isAvailabilityError, replyWord } from './fallback.availability.js';
import type { FallbackJournal, JournalEntry } from './fallback.journal.js';
import type { DeadlineQueue } from './deadline.queue.js';
import type { RedisEngine } from './redis.engine.js';
import type { ScriptDefinition } from './script.types.js';
import type { ReplayContext, ReplayRefused } from './store-engine.types.js';

export interface ReplaySettings {
  probeIntervalMs: number;
  maxProbeIntervalMs: number;
  replayBatchSize: number;
  replayAttempts: number;
  replayRetryMs: number;
}

/** The engine's counters the replay moves (shared, so `stats()` reads them in one place). */
export interface ReplayCounters {
  replayed: number;
  replayRefused: number;
  journalDropped: number;
}

/** What the replay needs from the engine that owns it: Redis, the deadline, the journal, the breaker's state. */
export interface ReplayHost {
  readonly primary: RedisEngine;
  readonly deadline: DeadlineQueue;
  readonly journal: FallbackJournal;
  readonly settings: ReplaySettings;
  readonly counters: ReplayCounters;
  isOpen(): boolean;
  isClosed(): boolean;
  /** Reports a write Redis kept refusing (the engine's `replay-refused` event). */
  refused(report: ReplayRefused): void;
}

/**
 * Replays the journal to Redis once it answers again. The journal goes out in pipelined batches
 * (a batch never holds two writes to one key, deletes aside). A write Redis refuses (a reply error
 * that is not about availability) is retried with backoff `replayAttempts` times, together with
 * the writes to its keys queued behind it (a `CONFLICT` reply, a newer write found on Redis by the
 * script, is not retried: no retry can change it); then it is reported (`replay-refused`) and dropped, or,
 * for a security write, held and retried in the background while its capability fails closed
 * (`refusedWrites`). The rest goes on, so one refused write never keeps the instance away from a
 * Redis that answers.
 */
export class FallbackReplay {
  /** Refused security writes (and the writes to their keys queued behind them), retried in the background. */
  private held: JournalEntry[] = [];
  private heldTimer?: NodeJS.Timeout;
  private heldDelay: number;
  /** Replay batch size: halved when a batch misses its deadline (a slow Redis), grown back after. */
  private batchSize: number;

  constructor(private readonly host: ReplayHost) {
    this.heldDelay = host.settings.probeIntervalMs;
    this.batchSize = host.settings.replayBatchSize;
  }

  /** Held security writes of `capability` (of every capability when omitted). */
  refusedWrites(capability?: string): number {
    let n = 0;
    for (const e of this.held) if (e.journal === 'security' && (capability === undefined || e.capability === capability)) n++;
    return n;
  }

  /** Stops the background retries (the engine is closing). */
  stop(): void {
    if (this.heldTimer) clearTimeout(this.heldTimer);
  }

  /**
   * Replays the whole journal, with the retries of refused writes, and what was queued behind it
   * meanwhile. Returns false if the engine closed while it waited between retries. Throws if Redis
   * went away again: what was not written is back in the journal, in order, for the next probe.
   */
  async drain(replay: ReplayContext): Promise<boolean> {
    const { journal, settings } = this.host;
    let refused: JournalEntry[] = [];
    try {
      refused = this.giveUpFinal(await this.pass(journal.entries, replay));
      for (let attempt = 2; refused.length > 0 && attempt <= settings.replayAttempts; attempt++) {
        await sleep(settings.replayRetryMs * 2 ** (attempt - 2));
        if (this.host.isClosed()) return false;
        refused = this.giveUpFinal(await this.pass(refused, replay));
      }
      this.giveUp(refused.splice(0));
      // Writes made meanwhile were queued behind; the emptiness check and the switch (by the caller,
      // on return) happen in one synchronous step, so no write can slip in between.
      while (journal.entries.length > 0) this.giveUp(await this.pass(journal.entries, replay));
      return true;
    } catch (error) {
      if (refused.length > 0) journal.entries = [...refused, ...journal.entries].sort((a, b) => a.seq - b.seq);
      throw error;
    }
  }

  /**
   * Sends `queue` to Redis in pipelined batches, emptying it. Returns the writes Redis refused,
   * with the writes to their keys that were queued behind them, in order. If Redis becomes
   * unreachable, what was not written goes back into `queue`, in order, and this throws.
   */
  private async pass(queue: JournalEntry[], replay: ReplayContext): Promise<JournalEntry[]> {
    const { primary, deadline, journal, settings, counters } = this.host;
    const refused: JournalEntry[] = [];
    const blocked = new Set<string>();
    const loaded = new Set<string>();
    while (queue.length > 0) {
      const batch: JournalEntry[] = [];
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
        if (scripts.length > 0) await deadline.race(primary.loadScripts(scripts));
        for (const x of scripts) loaded.add(x.commandName);
        // Journaled deletes of a batch go out as one UNLINK (split by slot on a Cluster).
        const deletes = batch.filter((e) => e.commutes && !e.settle);
        const merged = deletes.length > 1 ? deadline.race(primary.del([...new Set(deletes.flatMap((e) => e.keys))])) : undefined;
        results = await Promise.allSettled(batch.map((e) => (merged && e.commutes && !e.settle ? merged : deadline.race(e.run(primary, e.replay ?? replay)))));
      } catch (error) {
        results = batch.map(() => ({ status: 'rejected', reason: error }));
      }
      let unreachable: unknown;
      const unsent: JournalEntry[] = [];
      batch.forEach((e, i) => {
        const r = results[i]!;
        if (r.status === 'fulfilled') {
          journal.forget(e);
          if (e.commutes) for (const k of e.keys) journal.pendingDeletes.delete(k);
          counters.replayed++;
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
      else if (unreachable === undefined) this.batchSize = Math.min(settings.replayBatchSize, this.batchSize * 2);
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
   * Gives up at once on writes Redis refused for good (a `CONFLICT` reply: a script found a newer
   * write on Redis, and a retry would find the same), with the writes queued behind them only; the
   * rest is returned for the retries.
   */
  private giveUpFinal(refused: JournalEntry[]): JournalEntry[] {
    if (!refused.some((e) => e.attempts > 0 && FINAL_REFUSAL.test(e.reason ?? ''))) return refused;
    const now: JournalEntry[] = [];
    const later: JournalEntry[] = [];
    const finalKeys = new Set<string>();
    const laterKeys = new Set<string>();
    for (const e of refused) {
      const final = e.attempts > 0 ? FINAL_REFUSAL.test(e.reason ?? '') : e.keys.some((k) => finalKeys.has(k)) && !e.keys.some((k) => laterKeys.has(k));
      for (const k of e.keys) (final ? finalKeys : laterKeys).add(k);
      (final ? now : later).push(e);
    }
    this.giveUp(now);
    return later;
  }

  /**
   * Reports writes Redis kept refusing. A security write is held, with whatever was queued behind
   * it, and retried in the background; anything else is dropped (an invalidation counts towards
   * `replay-incomplete`). Writes that were only waiting behind a dropped one go on.
   */
  private giveUp(refused: JournalEntry[]): void {
    const { journal, counters } = this.host;
    const blocked = new Set<string>();
    const release: JournalEntry[] = [];
    for (const e of refused) {
      const behindHeld = e.keys.some((k) => blocked.has(k));
      if (e.attempts === 0 || e.settle) {
        if (behindHeld) this.hold(e);
        else release.push(e);
        continue;
      }
      counters.replayRefused++;
      const outcome = e.journal === 'security' || behindHeld ? 'held' : 'dropped';
      this.host.refused({ capability: e.capability, journal: e.journal, reason: e.reason ?? 'ERR', attempts: e.attempts, outcome });
      if (outcome === 'held') {
        this.hold(e);
        for (const k of e.keys) blocked.add(k);
      } else {
        journal.forget(e);
        if (e.journal === 'invalidation') counters.journalDropped++;
      }
    }
    if (release.length > 0) journal.entries = [...release, ...journal.entries];
  }

  private hold(e: JournalEntry): void {
    this.host.journal.forget(e);
    this.held.push(e);
    this.scheduleHeldRetry();
  }

  private scheduleHeldRetry(): void {
    if (this.heldTimer || this.host.isClosed()) return;
    this.heldTimer = setTimeout(() => void this.retryHeld(), this.heldDelay);
    this.heldTimer.unref();
  }

  /** Background retries of held security writes, while Redis serves everything else. */
  private async retryHeld(): Promise<void> {
    this.heldTimer = undefined;
    if (this.host.isClosed() || this.held.length === 0) return;
    if (!this.host.isOpen()) {
      const { settings } = this.host;
      // Sent from a copy: until Redis has taken a write, its capability must keep failing closed.
      const tried = [...this.held];
      let still: JournalEntry[] | undefined;
      try {
        still = await this.pass([...tried], { outageStartedAt: 0 });
      } catch {
        // Redis went away: they wait for the next try, in order.
      }
      if (still) {
        const written = new Set(tried.filter((e) => !still.includes(e)));
        this.held = this.held.filter((e) => !written.has(e));
      }
      this.heldDelay = still && still.length < tried.length ? settings.probeIntervalMs : Math.min(this.heldDelay * 2, settings.maxProbeIntervalMs);
    }
    this.scheduleHeldRetry();
  }
}

/** Refusals a retry cannot change: reported and dropped after the first try. */
const FINAL_REFUSAL = /^CONFLICT$/;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
