import { RedisConfigError } from '../redis.errors.js';
import { toMs, type Duration } from '../duration.js';

/** The `session` section of `RedisModuleOptions`; it also configures `TokenDenylist`. */
export interface SessionOptions {
  /**
   * Sliding idle timeout: a session unused this long ends. Default `'30m'`, or the absolute timeout
   * when that is shorter (an idle timeout you did not set follows the absolute one).
   */
  idleTimeout?: Duration;
  /** Absolute timeout from creation: no touch or refresh extends a session past it. Default `'8h'`. */
  absoluteTimeout?: Duration;
  /** Most live sessions per user; creating one more evicts the least recently active. 0 = no cap. Default 100. */
  maxPerUser?: number;
  /** Name of the RedisModule connection to keep sessions and the deny-list on (e.g. a `noeviction` Redis). */
  connection?: string;
  /**
   * While Redis is unavailable: `'reject'` (default) treats every session as unverifiable;
   * `'allow-local'` accepts sessions this instance created during the outage.
   */
  whenUnavailable?: 'reject' | 'allow-local';
  /**
   * `'replicated'` runs `WAIT 1` after revocations, refresh rotations and deny-list writes, so an
   * acknowledged revocation is much less likely to be lost in a failover. Default `'async'`.
   */
  durability?: 'async' | 'replicated';
  /** How long `WAIT` may block with `durability: 'replicated'`. Default `'100ms'`. */
  replicationTimeout?: Duration;
  /** `validate` writes the sliding expiry at most this often per session. Default min(1 minute, idleTimeout / 10). */
  touchThrottle?: Duration;
  /** Background pruning of stale per-user index entries; 0 disables it. Default `'1m'`. */
  sweepInterval?: Duration;
  /** Largest `data` payload, as JSON, in bytes. Default 4096. */
  maxDataBytes?: number;
  /**
   * Sessions and deny-list entries must not be evicted. At start-up, on reconnect and on each health
   * probe the connection's `maxmemory-policy` is read (INFO memory): anything but `noeviction` is
   * logged once (`'warn'`, default), stops start-up (`'refuse'`), or is not checked (`'off'`).
   */
  evictionCheck?: 'warn' | 'refuse' | 'off';
  /**
   * A second presentation of the same refresh token within this window after its rotation (a
   * retried request, two tabs or two instances racing) returns the same new pair instead of
   * revoking the family; after it, reuse revokes the family. 0 disables the grace. Default `'5s'`.
   */
  refreshGrace?: Duration;
  /**
   * Server secret (at least 32 characters, e.g. 32 random bytes in base64) keying the HMAC that
   * turns a user id into the opaque routing tag of session ids (and `hashIp`). Every instance must
   * use the same one; changing it ends every session. When unset, a random secret is generated
   * once and kept in Redis (`sess:secret`, SET NX), shared by every instance on that Redis.
   */
  secret?: string;
  /** Store the client IP as a keyed hash (HMAC-SHA256 with `secret`) instead of in clear. Default false. */
  hashIp?: boolean;
  denylist?: {
    /** While Redis is unavailable: `'closed'` (default) says every token is denied; `'open'` answers from this instance's own outage-time entries. */
    whenUnavailable?: 'closed' | 'open';
    /** Entries whose `exp` lies further ahead than this are refused as absurd. Default `'366d'`. */
    maxTtl?: Duration;
    /**
     * Entries are kept this long past the token's `exp`, because verifiers accept a token for a
     * while after `exp` (JWT libraries' clock tolerance) and an app's clock may be behind Redis's.
     * Set it to at least the verifiers' tolerance plus the clock drift you allow. Default `'60s'`.
     */
    clockSkew?: Duration;
  };
}

export interface ResolvedSessionOptions {
  idleMs: number;
  absoluteMs: number;
  maxPerUser: number;
  connection?: string;
  whenUnavailable: 'reject' | 'allow-local';
  durability: 'async' | 'replicated';
  replicationTimeoutMs: number;
  touchThrottleMs: number;
  sweepIntervalMs: number;
  maxDataBytes: number;
  refreshGraceMs: number;
  hashIp: boolean;
  denylistWhenUnavailable: 'closed' | 'open';
  denylistMaxTtlMs: number;
  denylistClockSkewMs: number;
}

/**
 * Defaults follow the OWASP Session Management Cheat Sheet: 15-30 minutes idle for low-risk apps
 * (we take the upper end, since the library cannot know the app's risk and shorter is one option
 * away) and 4-8 hours absolute for an application used through a working day (ASVS 5.0 7.3.2 asks
 * that this value be documented: it is 8 hours). High-value apps should lower idle to 2-5 minutes.
 */
export const SESSION_DEFAULTS = {
  idleTimeout: '30m',
  absoluteTimeout: '8h',
  // A bound on what one user can make Redis hold and on the work of revokeAll (ASVS 7.1.2).
  maxPerUser: 100,
  whenUnavailable: 'reject',
  durability: 'async',
  replicationTimeout: '100ms',
  sweepInterval: '1m',
  maxDataBytes: 4096,
  // Long enough for a retried request or two racing instances, short enough that a stolen token
  // replayed later still trips reuse detection (RFC 9700 4.14.2).
  refreshGrace: '5s',
  hashIp: false,
  denylistWhenUnavailable: 'closed',
  denylistMaxTtl: '366d',
  denylistClockSkew: '60s',
} as const;

export function resolveSessionOptions(options: SessionOptions = {}): ResolvedSessionOptions {
  const problems: string[] = [];
  const ms = (value: Duration | undefined, fallback: Duration, what: string): number => {
    try {
      return toMs(value ?? fallback, what);
    } catch (error) {
      problems.push(error instanceof RedisConfigError ? error.problems[0]! : String(error));
      return 0;
    }
  };
  const o = options ?? {};
  const absoluteMs = ms(o.absoluteTimeout, SESSION_DEFAULTS.absoluteTimeout, 'session.absoluteTimeout');
  // An idle timeout the user did not set follows a shorter absolute one instead of refusing it.
  const idleMs =
    o.idleTimeout === undefined
      ? Math.min(ms(undefined, SESSION_DEFAULTS.idleTimeout, 'session.idleTimeout'), absoluteMs > 0 ? absoluteMs : Infinity)
      : ms(o.idleTimeout, SESSION_DEFAULTS.idleTimeout, 'session.idleTimeout');
  if (idleMs <= 0) problems.push('session.idleTimeout must be greater than 0');
  if (absoluteMs <= 0) problems.push('session.absoluteTimeout must be greater than 0');
  if (idleMs > 0 && absoluteMs > 0 && idleMs > absoluteMs) problems.push('session.idleTimeout must not exceed session.absoluteTimeout');
  const maxPerUser = o.maxPerUser ?? SESSION_DEFAULTS.maxPerUser;
  if (!Number.isInteger(maxPerUser) || maxPerUser < 0) problems.push(`session.maxPerUser must be a non-negative integer (got ${String(o.maxPerUser)})`);
  if (o.connection !== undefined && (typeof o.connection !== 'string' || o.connection.length === 0)) problems.push('session.connection must name a RedisModule connection');
  const whenUnavailable = o.whenUnavailable ?? SESSION_DEFAULTS.whenUnavailable;
  if (whenUnavailable !== 'reject' && whenUnavailable !== 'allow-local') problems.push(`session.whenUnavailable must be 'reject' or 'allow-local' (got ${JSON.stringify(o.whenUnavailable)})`);
  const durability = o.durability ?? SESSION_DEFAULTS.durability;
  if (durability !== 'async' && durability !== 'replicated') problems.push(`session.durability must be 'async' or 'replicated' (got ${JSON.stringify(o.durability)})`);
  const replicationTimeoutMs = ms(o.replicationTimeout, SESSION_DEFAULTS.replicationTimeout, 'session.replicationTimeout');
  const touchThrottleMs = o.touchThrottle === undefined ? Math.min(60_000, Math.floor(idleMs / 10)) : ms(o.touchThrottle, 0, 'session.touchThrottle');
  if (touchThrottleMs >= idleMs && idleMs > 0) problems.push('session.touchThrottle must be shorter than session.idleTimeout');
  const sweepIntervalMs = ms(o.sweepInterval, SESSION_DEFAULTS.sweepInterval, 'session.sweepInterval');
  const maxDataBytes = o.maxDataBytes ?? SESSION_DEFAULTS.maxDataBytes;
  if (!Number.isInteger(maxDataBytes) || maxDataBytes <= 0) problems.push(`session.maxDataBytes must be a positive integer (got ${String(o.maxDataBytes)})`);
  const refreshGraceMs = ms(o.refreshGrace, SESSION_DEFAULTS.refreshGrace, 'session.refreshGrace');
  if (o.secret !== undefined && (typeof o.secret !== 'string' || o.secret.length < 32)) {
    problems.push('session.secret must be a string of at least 32 characters (e.g. 32 random bytes in base64)');
  }
  const hashIp = o.hashIp ?? SESSION_DEFAULTS.hashIp;
  if (typeof hashIp !== 'boolean') problems.push(`session.hashIp must be true or false (got ${JSON.stringify(o.hashIp)})`);
  const denylistWhenUnavailable = o.denylist?.whenUnavailable ?? SESSION_DEFAULTS.denylistWhenUnavailable;
  if (denylistWhenUnavailable !== 'closed' && denylistWhenUnavailable !== 'open') {
    problems.push(`session.denylist.whenUnavailable must be 'closed' or 'open' (got ${JSON.stringify(o.denylist?.whenUnavailable)})`);
  }
  const denylistMaxTtlMs = ms(o.denylist?.maxTtl, SESSION_DEFAULTS.denylistMaxTtl, 'session.denylist.maxTtl');
  const denylistClockSkewMs = ms(o.denylist?.clockSkew, SESSION_DEFAULTS.denylistClockSkew, 'session.denylist.clockSkew');
  if (problems.length > 0) throw new RedisConfigError(problems);
  return {
    idleMs,
    absoluteMs,
    maxPerUser,
    connection: o.connection,
    whenUnavailable,
    durability,
    replicationTimeoutMs,
    touchThrottleMs,
    sweepIntervalMs,
    maxDataBytes,
    refreshGraceMs,
    hashIp,
    denylistWhenUnavailable,
    denylistMaxTtlMs,
    denylistClockSkewMs,
  };
}
