import type { Duration } from '../duration.js';

// The shapes SessionService takes and returns, apart so its parts can name them without importing the service.

/** Input of `SessionService.create`. */
export interface CreateSessionInput {
  userId: string;
  userAgent?: string;
  ip?: string;
  /** Anything JSON-serialisable, up to `maxDataBytes`. */
  data?: unknown;
  /** Idle timeout for this session instead of `idleTimeout` (never past the absolute timeout). */
  ttl?: Duration;
}

/** What `create` and `refresh` hand to the client; only the client ever sees these tokens. */
export interface SessionTokens {
  sessionId: string;
  refreshToken: string;
  /** Epoch ms when the session ends unless used (idle timeout). */
  expiresAt: number;
  /** Epoch ms when the session ends whatever happens (absolute timeout). */
  absoluteExpiresAt: number;
}

/** A live session, as `validate()` returns it. */
export interface Session<T = unknown> {
  userId: string;
  data: T;
  userAgent?: string;
  ip?: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  absoluteExpiresAt: number;
}

/** A session in `SessionService.list(userId)`: no id, a public handle instead. */
export interface SessionListEntry<T = unknown> extends Omit<Session<T>, 'userId'> {
  /** A public handle (SHA-256 of the id): it names the session for `revokeHandle`, it cannot authenticate. */
  handle: string;
}

/** `SessionService.stats()`: live sessions, users and counters since start. */
export interface SessionStats {
  /** Live sessions, from the per-group live sets the scripts keep (no SCAN; see `activeSessions()`). */
  activeSessions: number;
  /** Users with a live session, found by scanning every user's index (SCAN: for dashboards, not hot paths). */
  users: number;
  /** Users with the most live sessions, most first (at most `top`). */
  perUser: Array<{ userId: string; sessions: number }>;
  counters: SessionCounters;
}

/** What this instance counted since it started. */
export interface SessionCounters {
  created: number;
  revoked: number;
  refreshed: number;
  /** Retired refresh tokens presented again (each revoked its family). */
  reuseDetected: number;
  /** Refresh tokens presented again within `refreshGrace`, answered with the pair their rotation issued. */
  refreshGraceReplays: number;
  /** Sessions evicted by the per-user cap. */
  evicted: number;
  /** Validations and refreshes refused because Redis could not be asked. */
  rejectedWhileUnavailable: number;
  replicationConfirmed: number;
  replicationUnconfirmed: number;
  /** Stale index entries removed by the background sweep. */
  swept: number;
}

/** Event payloads never carry a session id or a token. */
export interface RefreshReuseEvent {
  /** The family's user, or '' when the family had already ended (the token names no user). */
  userId: string;
  /** Live sessions of the family that were revoked (0 when it had ended already). */
  revoked: number;
}

/** Events of `SessionService` (an `EventEmitter`). */
export interface SessionServiceEvents {
  'refresh-reuse': [event: RefreshReuseEvent];
  /** `durability: 'replicated'` and no replica acknowledged within `replicationTimeout`. */
  'replication-unconfirmed': [event: { operation: string }];
}
