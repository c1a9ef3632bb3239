import type { ClockSource } from './deadline.queue.js';
import type { EngineMode, ReplayIncomplete, ReplayRefused } from './store-engine.types.js';

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
