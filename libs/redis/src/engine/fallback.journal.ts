import { JournalFullError } from '../redis.errors.js';
import type { ScriptDefinition } from './script.types.js';
import type { StoreEngine } from './store-engine.port.js';
import type { JournalClass, ReplayContext, WriteOptions } from './store-engine.types.js';

export type Op<T> = (engine: StoreEngine) => Promise<T>;

/** One journaled write. */
export interface JournalEntry {
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
  /** No longer counted in the journal's bounds (written, dropped, or held by the replay). */
  forgotten?: boolean;
}

export interface WriteSpec {
  keys: readonly string[];
  commutes?: boolean;
  script?: ScriptDefinition;
  /** The write as replayed (default: the op itself). */
  replay?: (engine: StoreEngine, replay: ReplayContext) => Promise<unknown>;
}

export interface JournalLimits {
  journalLimit: number;
  securityJournalLimit: number;
}

/** The engine's counters this journal moves (shared, so `stats()` reads them in one place). */
export interface JournalCounters {
  journalDropped: number;
  journalRejected: number;
}

/** The journal class of a write, or undefined for a write that is not replayed on recovery. */
export function journalOf(options: WriteOptions | undefined): JournalClass | undefined {
  const r = options?.replayOnRecovery;
  if (!r) return undefined;
  return r === true ? 'invalidation' : r;
}

/**
 * The outage journal: one ordered log with a bound per class (see `JournalClass`), so that no
 * other write can push out a revocation or a deny. Kept apart from the breaker so its bounds and
 * the delete folding can be read without the replay around them.
 */
export class FallbackJournal {
  /** In replay order; reassigned (never only mutated) when refused writes are put back in front. */
  entries: JournalEntry[] = [];
  readonly pending = { security: 0, general: 0 };
  private seq = 0;
  /** Keys a journaled delete will remove on replay, with no other journaled write to them since. */
  readonly pendingDeletes = new Set<string>();

  constructor(
    private readonly limits: JournalLimits,
    private readonly counters: JournalCounters,
  ) {}

  entry(op: Op<unknown>, options: WriteOptions, journal: JournalClass, write: WriteSpec): JournalEntry {
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

  /** Keeps `entry` for replay; returns the error to reject with when its journal is full. */
  remember(entry: JournalEntry): JournalFullError | undefined {
    const security = entry.journal === 'security';
    const limit = security ? this.limits.securityJournalLimit : this.limits.journalLimit;
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
    this.entries.push(entry);
    return undefined;
  }

  forget(entry: JournalEntry): void {
    // A held write was counted out when it was held; its later retry must not count it out again.
    if (entry.settle || entry.forgotten) return;
    entry.forgotten = true;
    if (entry.journal === 'security') this.pending.security--;
    else this.pending.general--;
  }
}
