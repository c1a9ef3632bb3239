import type { Duration } from '../duration.js';

/**
 * What a collection does while Redis is away (the engine is in `fallback` mode):
 * - `memory` (default): reads answer from this instance's in-process fallback (what it wrote during
 *   the outage; anything older reads as missing), and idempotent writes (map set/setMany/delete/clear,
 *   set add/delete/clear, leaderboard add/remove/clear, list remove/clear: absolute values) are
 *   journaled and replayed to Redis on recovery, in order. A replayed write is refused when another
 *   instance wrote the same collection on Redis since the outage began (checked against a
 *   per-collection last-write marker, on the Redis clock, erring early: a write made just before this
 *   instance lost Redis counts too): the newer data is kept, and the refusal is reported (`replay-refused` event
 *   with reason `CONFLICT`, `replayRefused` in the breaker stats, a warning with the count per
 *   collection). When the journal is full (`breaker.journalLimit`) the write fails with
 *   `JournalFullError`. Non-idempotent writes (list pushes, leaderboard and counter increments) fail with
 *   `RedisUnavailableError` instead: the breaker may replay a write whose first attempt reached Redis
 *   late (a timeout is not a "no"), and replaying an increment would count it twice.
 * - `closed`: every call fails with `RedisUnavailableError` while Redis is away.
 * With no Redis configured (embedded store) everything answers: memory is the store of record.
 */
export type CollectionWhenUnavailable = 'memory' | 'closed';

/** Options every collection (map, set, list, leaderboard) takes: its tenant and its outage behaviour. */
export interface CollectionOptions {
  /** Scopes the collection to one organisation: its keys cannot be reached from another tenant. */
  tenant?: string;
  whenUnavailable?: CollectionWhenUnavailable;
}

/** Options of a `RedisMap`: those of every collection, plus an optional per-entry TTL. */
export interface MapOptions extends CollectionOptions {
  /**
   * Time to live of each entry, counted from its last write. With a TTL, each entry is its own Redis
   * key (a hash cannot expire single fields on Redis 7.0); without one, the map is one Redis hash.
   */
  ttl?: Duration;
}

/** Options of a list: those of every collection, plus an optional length cap. */
export interface ListOptions extends CollectionOptions {
  /** Keeps the `cap` newest entries; older ones fall off on each push. */
  cap?: number;
}

/** Options of a counter: its tenant and an optional fixed window after which it resets. */
export interface CounterOptions {
  tenant?: string;
  /** The counter lives this long from its first increment, then starts again at 0 (a fixed window). */
  window?: Duration;
}
