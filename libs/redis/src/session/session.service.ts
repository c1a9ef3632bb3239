import { EventEmitter } from 'node:events';
import { Logger, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { escapeGlob } from '../engine/glob.util.js';
import type { ScriptReply } from '../engine/script.registry.js';
import {
  SESSION_CREATE,
  SESSION_LIST,
  SESSION_REFRESH,
  SESSION_REVOKE,
  SESSION_REVOKE_ALL,
  SESSION_TOUCH,
} from '../engine/scripts/session.scripts.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { toMs, type Duration } from '../duration.js';
import { isUnavailable, SessionEngine, type EngineSource } from './session.engine.js';
import { SessionInputError, SessionUnavailableError } from './session.errors.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from './session.options.js';
import { checkUserId, issueToken, newFamilyId, parseToken, sameHash, userBase } from './session.tokens.js';

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
  /** Live sessions found by scanning every user's index (SCAN: meant for dashboards, not hot paths). */
  activeSessions: number;
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

const CREATE_ATTEMPTS = 3;
const MAX_USER_AGENT = 512;
const MAX_IP = 64;
const SWEEP_BATCH = 50;
const SWEEP_KEYS_PER_TICK = 200;
const INDEX_PATTERN = `${escapeGlob('sess:{u:')}*${escapeGlob('}:idx')}`;

/**
 * Server-side sessions with idle and absolute timeouts, a per-user index and refresh rotation with
 * reuse detection. Each state change is one Lua script on one user's hash slot, run on the Redis
 * clock, with a TypeScript twin for the in-memory engine.
 *
 * Outage policy: sessions created and revocations made while Redis is away are journaled and
 * written to Redis on recovery; a session that cannot be verified is rejected (`whenUnavailable:
 * 'reject'`), or, with `'allow-local'`, accepted only if this instance created it during the outage.
 */
export class SessionService extends EventEmitter<SessionServiceEvents> implements OnModuleInit, BeforeApplicationShutdown {
  readonly options: ResolvedSessionOptions;
  private readonly store: SessionEngine;
  private readonly logger = new Logger('Sessions');
  private readonly counters: SessionCounters = {
    created: 0,
    revoked: 0,
    refreshed: 0,
    reuseDetected: 0,
    evicted: 0,
    rejectedWhileUnavailable: 0,
    replicationConfirmed: 0,
    replicationUnconfirmed: 0,
    swept: 0,
  };
  private sweepTimer?: NodeJS.Timeout;
  private sweepCursor?: AsyncIterator<string[]>;
  private sweeping = false;
  private closed = false;

  constructor(
    source: EngineSource,
    options: SessionOptions = {},
  ) {
    super();
    this.options = resolveSessionOptions(options);
    this.store = new SessionEngine(source);
  }

  /** Resolves the engine at start-up, so a wrong `session.connection` stops the app there. */
  onModuleInit(): void {
    void this.engine;
  }

  beforeApplicationShutdown(): void {
    this.close();
  }

  /** Stops the background sweep. The engine belongs to its connection and is left open. */
  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    void this.sweepCursor?.return?.();
    this.sweepCursor = undefined;
  }

  /** Listens for reuse of a retired refresh token; returns a function that removes the listener. */
  onReuseDetected(listener: (event: RefreshReuseEvent) => void): () => void {
    this.on('refresh-reuse', listener);
    return () => this.off('refresh-reuse', listener);
  }

  async create(input: CreateSessionInput): Promise<SessionTokens> {
    if (!input || typeof input !== 'object') throw new SessionInputError('create() takes { userId, userAgent?, ip?, data?, ttl? }');
    const userId = checkUserId(input.userId);
    const userAgent = optionalText(input.userAgent, 'userAgent').slice(0, MAX_USER_AGENT);
    const ip = optionalText(input.ip, 'ip');
    if (ip.length > MAX_IP) throw new SessionInputError(`ip must be at most ${MAX_IP} characters`);
    let data: string;
    try {
      data = JSON.stringify(input.data ?? null);
    } catch (error) {
      throw new SessionInputError(`data must be JSON-serialisable (${error instanceof Error ? error.message : String(error)})`);
    }
    if (data === undefined) throw new SessionInputError('data must be JSON-serialisable');
    if (Buffer.byteLength(data) > this.options.maxDataBytes) {
      throw new SessionInputError(`data is ${Buffer.byteLength(data)} bytes as JSON; the limit is session.maxDataBytes = ${this.options.maxDataBytes}`);
    }
    let idleMs = this.options.idleMs;
    if (input.ttl !== undefined) {
      try {
        idleMs = toMs(input.ttl, 'ttl');
      } catch (error) {
        throw new SessionInputError(error instanceof Error ? error.message : String(error));
      }
      if (idleMs <= 0) throw new SessionInputError('ttl must be greater than 0');
    }
    this.startSweep();
    const engine = this.engine;
    // Created while Redis is away: the session is replayed later, and its absolute deadline must
    // count from now, not from the replay. The local clock is all there is to say when "now" was.
    const origin = this.store.outage() ? String(Date.now()) : '';
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      const session = issueToken(userId);
      const refresh = issueToken(userId);
      const family = newFamilyId();
      const reply = asList(
        await engine.runScript(
          SESSION_CREATE,
          [userBase(userId)],
          [session.hash, refresh.hash, family, idleMs, this.options.absoluteMs, this.options.maxPerUser, origin, userId, userAgent, ip, data],
          {
            // Never dropped: when the journal is full the call fails (JournalFullError). Replayed
            // only if no revokeAll of this user ran on Redis since the outage began.
            replayOnRecovery: 'durable',
            capability: 'session',
            replayArgs: ({ outageStartedAt }) => [session.hash, refresh.hash, family, idleMs, this.options.absoluteMs, this.options.maxPerUser, origin, userId, userAgent, ip, data, outageStartedAt],
          },
        ),
      );
      if (reply[0] === 1) {
        this.counters.created++;
        this.counters.evicted += Number(reply[4]);
        return { sessionId: session.token, refreshToken: refresh.token, expiresAt: Number(reply[2]), absoluteExpiresAt: Number(reply[3]) };
      }
    }
    // 256-bit ids do not collide; getting here means the store refuses every write as "exists".
    throw new SessionInputError(`no session could be created after ${CREATE_ATTEMPTS} attempts`);
  }

  /**
   * The session, with its idle timeout slid forward (throttled by `touchThrottle`), or `null` when
   * it is not valid (unknown, expired, revoked). Rejects with `SessionUnavailableError` when it
   * cannot be checked (Redis away and `whenUnavailable: 'reject'`, or a revocation Redis refused is
   * still pending): answer 503, not 401.
   */
  async validate<T = unknown>(sessionId: string): Promise<Session<T> | null> {
    return this.read<T>(sessionId, this.options.touchThrottleMs);
  }

  /** Slides the idle timeout now (no throttle). False when there is no live session; rejects like `validate`. */
  async touch(sessionId: string): Promise<boolean> {
    return (await this.read(sessionId, 0)) !== null;
  }

  /** The user's live sessions, most recently active first; ended ones are pruned from the index. */
  async list<T = unknown>(userId: string): Promise<SessionListEntry<T>[]> {
    checkUserId(userId);
    this.startSweep();
    const reply = asList(await this.engine.runScript(SESSION_LIST, [userBase(userId)], []));
    return reply
      .map((item) => {
        const [handle, ...fields] = asList(item);
        return { handle: String(handle), ...sessionFields<T>(fields) };
      })
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt);
  }

  /**
   * Ends one session and its refresh token. True when a live session was removed; while Redis is
   * away the revocation is queued for Redis and true is returned, since only Redis could say more.
   */
  async revoke(sessionId: string): Promise<boolean> {
    const parsed = parseToken(sessionId);
    if (!parsed) return false;
    return this.revokeHash(parsed.userId, parsed.hash);
  }

  /** Ends the session a `list()` entry names. */
  async revokeHandle(userId: string, handle: string): Promise<boolean> {
    checkUserId(userId);
    if (typeof handle !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(handle)) throw new SessionInputError('handle must be a handle returned by list()');
    return this.revokeHash(userId, handle);
  }

  /** Ends every session of the user, except `except` (a session id of that user) if given. Returns how many. */
  async revokeAll(userId: string, options: { except?: string } = {}): Promise<number> {
    checkUserId(userId);
    let keep = '';
    if (options.except !== undefined) {
      const parsed = parseToken(options.except);
      if (!parsed || parsed.userId !== userId) throw new SessionInputError('except must be a session id of the same user');
      keep = parsed.hash;
    }
    const keepEpochMs = this.options.absoluteMs;
    const removed = Number(
      await this.engine.runScript(SESSION_REVOKE_ALL, [userBase(userId)], [keep, '', keepEpochMs], {
        replayOnRecovery: 'security',
        capability: 'session',
        // Replayed, it dates the user's revocation epoch from the outage, not from the replay: a
        // session this instance created after it during the same outage is still replayed.
        replayArgs: ({ outageStartedAt }) => [keep, outageStartedAt, keepEpochMs],
      }),
    );
    this.counters.revoked += removed;
    await this.replicate('revokeAll');
    return removed;
  }

  /**
   * Rotates a refresh token: a new session id and refresh token, the old ones retired, the absolute
   * deadline kept. `null` for an unknown, ended or reused token; reuse also revokes the family and
   * emits `refresh-reuse`. Refused (null) while Redis is unavailable: a rotation only one instance
   * knows about would split the family.
   */
  async refresh(refreshToken: string): Promise<SessionTokens | null> {
    const parsed = parseToken(refreshToken);
    if (!parsed) return null;
    this.startSweep();
    if (this.store.outage()) {
      this.counters.rejectedWhileUnavailable++;
      return null;
    }
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      const session = issueToken(parsed.userId);
      const refresh = issueToken(parsed.userId);
      let reply: ScriptReply[];
      try {
        reply = asList(await this.engine.runScript(SESSION_REFRESH, [userBase(parsed.userId)], [parsed.hash, session.hash, refresh.hash]));
      } catch (error) {
        if (isUnavailable(error)) {
          this.counters.rejectedWhileUnavailable++;
          return null;
        }
        throw error;
      }
      if (this.store.outage()) {
        // Answered by the in-process store: a rotation Redis never saw.
        this.counters.rejectedWhileUnavailable++;
        return null;
      }
      const status = Number(reply[0]);
      if (status === 1) {
        this.counters.refreshed++;
        await this.replicate('refresh');
        return { sessionId: session.token, refreshToken: refresh.token, expiresAt: Number(reply[2]), absoluteExpiresAt: Number(reply[3]) };
      }
      if (status === -1) {
        const revoked = Number(reply[1]);
        this.counters.reuseDetected++;
        this.counters.revoked += revoked;
        await this.replicate('refresh-reuse');
        // No id, token or user in the log line: the event carries what the app needs.
        this.logger.warn(`A retired refresh token was presented again; its family was revoked (${revoked} live session(s))`);
        this.emit('refresh-reuse', { userId: parsed.userId, revoked });
        return null;
      }
      if (status !== -2) return null;
    }
    return null;
  }

  /** Scans every user's index (SCAN, in batches): for dashboards and metrics, not request paths. */
  async stats(options: { top?: number } = {}): Promise<SessionStats> {
    const top = options.top ?? 20;
    const engine = this.engine;
    const now = await engine.time();
    const perUser: Array<{ userId: string; sessions: number }> = [];
    let activeSessions = 0;
    const seen = new Set<string>();
    for await (const batch of engine.scan(INDEX_PATTERN, { count: 100 })) {
      for (const key of batch) {
        if (seen.has(key)) continue;
        seen.add(key);
        const live = (await engine.zrangeByScore(key, now + 1, Infinity)).length;
        if (live === 0) continue;
        activeSessions += live;
        perUser.push({ userId: userFromIndexKey(key), sessions: live });
      }
    }
    perUser.sort((a, b) => b.sessions - a.sessions);
    return { activeSessions, users: perUser.length, perUser: perUser.slice(0, top), counters: { ...this.counters } };
  }

  /**
   * One bounded step of the background sweep: prunes ended entries from up to `maxKeys` user
   * indexes, continuing where the last step stopped. Returns the number of entries removed.
   */
  async sweep(maxKeys = SWEEP_KEYS_PER_TICK): Promise<number> {
    if (this.sweeping || this.closed) return 0;
    this.sweeping = true;
    let removed = 0;
    try {
      const engine = this.engine;
      const now = await engine.time();
      this.sweepCursor ??= engine.scan(INDEX_PATTERN, { count: SWEEP_BATCH })[Symbol.asyncIterator]();
      let visited = 0;
      while (visited < maxKeys && !this.closed) {
        const step = await this.sweepCursor.next();
        if (step.done) {
          this.sweepCursor = undefined;
          break;
        }
        for (const key of step.value) {
          if (this.closed) break;
          removed += await engine.zremRangeByScore(key, -Infinity, now);
          visited++;
        }
      }
    } catch {
      // Redis went away mid-sweep: start over next time, the entries are still stale then.
      this.sweepCursor = undefined;
    } finally {
      this.sweeping = false;
    }
    this.counters.swept += removed;
    return removed;
  }

  // ---- internals ----------------------------------------------------------------------------

  private get engine(): StoreEngine {
    return this.store.engine;
  }


  private async read<T>(sessionId: string, throttleMs: number): Promise<Session<T> | null> {
    const parsed = parseToken(sessionId);
    if (!parsed) return null;
    this.startSweep();
    const local = this.options.whenUnavailable === 'allow-local';
    // A revocation Redis refused on replay is still being retried: any session may be one it ends.
    if (this.engine.refusedWrites('session') > 0) throw this.unavailable('a session revocation has not reached Redis yet');
    if (this.store.outage() && !local) throw this.unavailable();
    let reply: ScriptReply[];
    try {
      // 'reject': one process's memory cannot say a session is invalid, so no answer from it.
      reply = asList(await this.engine.runScript(SESSION_TOUCH, [userBase(parsed.userId)], [parsed.hash, '1', throttleMs], { fallback: local }));
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      throw this.unavailable(undefined, error);
    }
    if (reply[0] !== 1) {
      // Not in this instance's outage-time store says nothing about Redis.
      if (this.store.outage()) throw this.unavailable();
      return null;
    }
    // Only outage-time writes live in the fallback store, so a session found there was created by
    // this instance during this outage: acceptable with 'allow-local' only.
    if (this.store.outage() && !local) throw this.unavailable();
    const [, uid, ua, ip, data, ca, ls, exp, abs, sid] = reply;
    // The record was found by this hash; checking it again in constant time costs nothing and
    // guards against a record filed under the wrong key.
    if (!sameHash(String(sid), parsed.hash) || uid !== parsed.userId) return null;
    return { userId: parsed.userId, ...sessionFields<T>([ua, ip, data, ca, ls, exp, abs]) };
  }

  private unavailable(why = 'Redis is unavailable', cause?: unknown): SessionUnavailableError {
    this.counters.rejectedWhileUnavailable++;
    return new SessionUnavailableError(`the session cannot be checked: ${why}`, { cause });
  }

  private async revokeHash(userId: string, hash: string): Promise<boolean> {
    const removed = Number(await this.engine.runScript(SESSION_REVOKE, [userBase(userId)], [hash], { replayOnRecovery: 'security', capability: 'session' }));
    const queued = this.store.outage();
    if (removed > 0) this.counters.revoked += removed;
    await this.replicate('revoke');
    return removed > 0 || queued;
  }

  private async replicate(operation: string): Promise<void> {
    if (this.options.durability !== 'replicated') return;
    const acknowledged = await this.engine.wait(1, this.options.replicationTimeoutMs);
    if (acknowledged >= 1) {
      this.counters.replicationConfirmed++;
      return;
    }
    this.counters.replicationUnconfirmed++;
    this.emit('replication-unconfirmed', { operation });
  }

  private startSweep(): void {
    if (this.sweepTimer || this.closed || this.options.sweepIntervalMs === 0) return;
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    this.sweepTimer.unref();
  }
}

/** The fallback engine's stats say whether the last command failed on Redis (answered from memory). */
function asList(reply: ScriptReply): ScriptReply[] {
  return Array.isArray(reply) ? reply : [reply];
}

/** The session fields as the scripts return them: ua, ip, data, createdAt, lastSeen, expiry, absolute expiry. */
function sessionFields<T>([ua, ip, data, ca, ls, exp, abs]: readonly (ScriptReply | undefined)[]): Omit<Session<T>, 'userId'> {
  return {
    data: JSON.parse(String(data)) as T,
    userAgent: orUndefined(ua),
    ip: orUndefined(ip),
    createdAt: Number(ca),
    lastSeenAt: Number(ls),
    expiresAt: Number(exp),
    absoluteExpiresAt: Number(abs),
  };
}

function orUndefined(value: ScriptReply | undefined): string | undefined {
  return value === null || value === undefined || value === '' ? undefined : String(value);
}

function optionalText(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new SessionInputError(`${what} must be a string`);
  return value;
}

function userFromIndexKey(key: string): string {
  const encoded = key.slice('sess:{u:'.length, key.length - '}:idx'.length);
  return Buffer.from(encoded, 'base64url').toString('utf8');
}
