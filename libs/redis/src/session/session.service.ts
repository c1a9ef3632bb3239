import { EventEmitter } from 'node:events';
import { Logger, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { escapeGlob } from '../engine/glob.util.js';
import type { ScriptReply } from '../engine/script.registry.js';
import { randomBytes } from 'node:crypto';
import {
  SESSION_COUNT,
  SESSION_CREATE,
  SESSION_FORGET,
  SESSION_REFRESH,
  SESSION_REVOKE,
  SESSION_TOUCH,
  sessionCountScript,
  sessionListScript,
  sessionRevokeAllScript,
} from '../engine/scripts/session.scripts.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { toMs, type Duration } from '../duration.js';
import { isUnavailable, SessionEngine, type EngineSource } from './session.engine.js';
import { SessionInputError, SessionUnavailableError } from './session.errors.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from './session.options.js';
import {
  checkUserId,
  groupLiveKey,
  ipDigest,
  issueToken,
  newFamilyId,
  openPair,
  parseToken,
  sameHash,
  sealPair,
  SESSION_GROUPS,
  userKeys,
  userTag,
  type UserKeys,
} from './session.tokens.js';

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

const CREATE_ATTEMPTS = 3;
const MAX_USER_AGENT = 512;
const MAX_IP = 64;
const SWEEP_BATCH = 50;
const SWEEP_KEYS_PER_TICK = 200;
const INDEX_PATTERN = `${escapeGlob('sess:{s:')}*${escapeGlob('}:')}*${escapeGlob(':idx')}`;
// Index-then-script operations (list, refresh) read again this often when the data moved in between.
const RACE_ATTEMPTS = 5;
// The session-count script runs once per group; this many at a time.
const COUNT_BATCH = 256;
const GROUPS_PER_SWEEP = 64;
const SECRET_KEY = 'sess:secret';
const ALL_LIVE_KEYS = Array.from({ length: SESSION_GROUPS }, (_, g) => groupLiveKey(g));

/**
 * Server-side sessions with idle and absolute timeouts, a per-user index and refresh rotation with
 * reuse detection and a short grace window. Each state change is one Lua script on one user's hash
 * slot, run on the Redis clock, with a TypeScript twin for the in-memory engine; every key a script
 * touches is declared in KEYS (where a key is only known from data, it is read first). A session is
 * live while its record exists, it is in the user's index and neither deadline has passed. Ids are
 * `<HMAC user tag>.<256-bit secret>` (see session.tokens.ts).
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
    refreshGraceReplays: 0,
    evicted: 0,
    rejectedWhileUnavailable: 0,
    replicationConfirmed: 0,
    replicationUnconfirmed: 0,
    swept: 0,
  };
  private sweepTimer?: NodeJS.Timeout;
  private sweepCursor?: AsyncIterator<string[]>;
  private sweepGroup = 0;
  private sweeping = false;
  private closed = false;
  private secret?: Promise<Buffer>;
  private readonly configuredSecret: boolean;
  private secretConflictLogged = false;
  private offModeChange?: () => void;
  private countInOneCall = true;

  constructor(
    source: EngineSource,
    options: SessionOptions = {},
  ) {
    super();
    this.options = resolveSessionOptions(options);
    this.store = new SessionEngine(source);
    // Kept out of `options` (which apps may log): only the HMAC key is held, as a promise.
    this.configuredSecret = options?.secret !== undefined;
    if (options?.secret !== undefined) this.secret = Promise.resolve(Buffer.from(options.secret, 'utf8'));
  }

  /**
   * Resolves the engine at start-up, so a wrong `session.connection` stops the app there, and learns
   * a generated secret while Redis answers (again after each outage): an instance that knows it can
   * still create sessions while Redis is away. Waits at most one command deadline.
   */
  async onModuleInit(): Promise<void> {
    const engine = this.engine;
    if (this.configuredSecret) return;
    this.offModeChange ??= engine.onModeChange((mode) => {
      if (mode === 'redis') void this.serverSecret().catch(() => undefined);
    });
    await this.serverSecret().catch(() => undefined);
  }

  beforeApplicationShutdown(): void {
    this.close();
  }

  /** Stops the background sweep. The engine belongs to its connection and is left open. */
  close(): void {
    this.closed = true;
    this.offModeChange?.();
    this.offModeChange = undefined;
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
    let ip = optionalText(input.ip, 'ip');
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
    const secret = await this.serverSecret();
    const keys = userKeys(userTag(secret, userId));
    if (ip !== '' && this.options.hashIp) ip = ipDigest(secret, ip);
    const engine = this.engine;
    // Created while Redis is away: the session is replayed later, and its absolute deadline must
    // count from now, not from the replay. The local clock is all there is to say when "now" was.
    const origin = this.store.outage() ? String(Date.now()) : '';
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      const session = issueToken(keys.tag);
      const refresh = issueToken(keys.tag);
      const family = newFamilyId();
      const reply = asList(
        await engine.runScript(
          SESSION_CREATE,
          [keys.idx, keys.session(session.hash), keys.refresh(refresh.hash), keys.family(family), keys.live, keys.epoch],
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
        // Evicted sessions already left the index (that ended them); their records go now.
        for (const victim of reply.slice(5)) await this.dropRecord(keys, String(victim));
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
    const keys = userKeys(userTag(await this.serverSecret(), userId));
    let entries: ScriptReply[] = [];
    // The index is read first so the script can declare every session record it reads; if a
    // session was indexed in between, the reply says so and the index is read again.
    for (let attempt = 1; attempt <= RACE_ATTEMPTS; attempt++) {
      const hashes = (await this.engine.zrange(keys.idx, 0, -1)).map((e) => e.member);
      const reply = asList(await this.engine.runScript(sessionListScript(hashes.length), [keys.idx, keys.live, ...hashes.map(keys.session)], hashes));
      entries = asList(reply[1] ?? []);
      if (reply[0] === 1) break;
    }
    const out: SessionListEntry<T>[] = [];
    for (const item of entries) {
      const [handle, ...fields] = asList(item);
      const parsed = sessionFields<T>(fields);
      // A record whose data no longer parses is not shown (validate treats it as no session).
      if (parsed) out.push({ handle: String(handle), ...parsed });
    }
    return out.sort((a, b) => b.lastSeenAt - a.lastSeenAt);
  }

  /**
   * Ends one session and its refresh token. True when a live session was removed; while Redis is
   * away the revocation is queued for Redis and true is returned, since only Redis could say more.
   */
  async revoke(sessionId: string): Promise<boolean> {
    const parsed = parseToken(sessionId);
    if (!parsed) return false;
    return this.revokeHash(userKeys(parsed.tag), parsed.hash);
  }

  /** Ends the session a `list()` entry names. */
  async revokeHandle(userId: string, handle: string): Promise<boolean> {
    checkUserId(userId);
    if (typeof handle !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(handle)) throw new SessionInputError('handle must be a handle returned by list()');
    return this.revokeHash(userKeys(userTag(await this.serverSecret(), userId)), handle);
  }

  /** Ends every session of the user, except `except` (a session id of that user) if given. Returns how many. */
  async revokeAll(userId: string, options: { except?: string } = {}): Promise<number> {
    checkUserId(userId);
    const keys = userKeys(userTag(await this.serverSecret(), userId));
    let keep = '';
    if (options.except !== undefined) {
      const parsed = parseToken(options.except);
      if (!parsed || !sameHash(parsed.tag, keys.tag)) throw new SessionInputError('except must be a session id of the same user');
      keep = parsed.hash;
    }
    // Leaving the index is what ends a session, so the script ends every indexed session, also one
    // indexed after this read; the records read here are deleted with it, the others right after.
    const hashes = (await this.engine.zrange(keys.idx, 0, -1)).map((e) => e.member).filter((h) => h !== keep);
    const keepEpochMs = this.options.absoluteMs;
    const reply = asList(
      await this.engine.runScript(sessionRevokeAllScript(hashes.length), [keys.idx, keys.live, keys.epoch, ...hashes.map(keys.session)], [keep, '', keepEpochMs, ...hashes], {
        replayOnRecovery: 'security',
        capability: 'session',
        // Replayed, it dates the user's revocation epoch from the outage, not from the replay: a
        // session this instance created after it during the same outage is still replayed.
        replayArgs: ({ outageStartedAt }) => [keep, outageStartedAt, keepEpochMs, ...hashes],
      }),
    );
    const removed = Number(reply[0]);
    this.counters.revoked += removed;
    if (!this.store.outage()) {
      const forget = asList(reply[1] ?? []).map(String);
      for (let i = 0; i + 2 < forget.length; i += 3) await this.forget(keys, forget[i]!, forget[i + 1]!);
      for (const h of asList(reply[2] ?? [])) await this.dropRecord(keys, String(h));
    }
    await this.replicate('revokeAll');
    return removed;
  }

  /**
   * Rotates a refresh token: a new session id and refresh token, the old ones retired, the absolute
   * deadline kept. Presented again within `refreshGrace` while the session it issued is still the
   * family's current one, the token gets that same pair back. `null` for an unknown or ended token,
   * or a reused one past the grace window: reuse also revokes the family and emits `refresh-reuse`.
   * Refused (null) while Redis is unavailable: a rotation only one instance knows about would split
   * the family.
   */
  async refresh(refreshToken: string): Promise<SessionTokens | null> {
    const parsed = parseToken(refreshToken);
    if (!parsed) return null;
    this.startSweep();
    if (this.store.outage()) {
      this.counters.rejectedWhileUnavailable++;
      return null;
    }
    const keys = userKeys(parsed.tag);
    try {
      for (let attempt = 1; attempt <= CREATE_ATTEMPTS + RACE_ATTEMPTS; attempt++) {
        const outcome = await this.rotate(keys, parsed.hash, parsed.secret);
        if (outcome === 'again') continue;
        if (this.store.outage()) {
          // Answered by the in-process store: a rotation Redis never saw.
          this.counters.rejectedWhileUnavailable++;
          return null;
        }
        return outcome;
      }
    } catch (error) {
      if (isUnavailable(error)) {
        this.counters.rejectedWhileUnavailable++;
        return null;
      }
      throw error;
    }
    return null;
  }

  /**
   * Live sessions across the store, in O(groups): one ZCOUNT per group of users over the live sets
   * the scripts keep as they create, slide and end sessions (one script for all groups on a single
   * Redis, one per group on a Cluster). Expired sessions drop out of the count
   * by their expiry score even if no script ever runs for them. Never scans. While Redis is away it
   * rejects with `RedisUnavailableError` rather than count one instance's memory, unless
   * `{ fallback: true }` asks for that count.
   */
  async activeSessions(options: { fallback?: boolean } = {}): Promise<number> {
    const fallback = options.fallback ?? false;
    if (this.countInOneCall) {
      // A single Redis (or the memory store) takes every group in one script; a Cluster refuses it
      // (CROSSSLOT) and is asked one group at a time from then on.
      try {
        return Number(await this.engine.runScript(sessionCountScript(SESSION_GROUPS), ALL_LIVE_KEYS, [], { fallback }));
      } catch (error) {
        if (!/CROSSSLOT/.test(error instanceof Error ? error.message : '')) throw error;
        this.countInOneCall = false;
      }
    }
    let total = 0;
    for (let from = 0; from < SESSION_GROUPS; from += COUNT_BATCH) {
      const counts = await Promise.all(
        Array.from({ length: Math.min(COUNT_BATCH, SESSION_GROUPS - from) }, (_, i) =>
          this.engine.runScript(SESSION_COUNT, [groupLiveKey(from + i)], [], { fallback }),
        ),
      );
      for (const n of counts) total += Number(n);
    }
    return total;
  }

  /**
   * `activeSessions` from the live sets (O(1) in the number of sessions); `users` and `perUser` scan
   * every user's index (SCAN, in batches): for dashboards, not request paths. `top: 0` skips the scan.
   */
  async stats(options: { top?: number } = {}): Promise<SessionStats> {
    const top = options.top ?? 20;
    // While Redis is away this counts what the instance's fallback holds, as the rest of stats() does.
    const activeSessions = await this.activeSessions({ fallback: true });
    const perUser: Array<{ userId: string; sessions: number }> = [];
    if (top > 0) {
      const engine = this.engine;
      const now = await engine.time();
      const seen = new Set<string>();
      for await (const batch of engine.scan(INDEX_PATTERN, { count: 100 })) {
        for (const key of batch) {
          if (seen.has(key)) continue;
          seen.add(key);
          const live = await engine.zrangeByScore(key, now + 1, Infinity);
          if (live.length === 0) continue;
          // The key names the user only by its tag; a live session's record knows the user id.
          const base = key.slice(0, -'idx'.length);
          let userId: string | null = null;
          for (const { member } of live) if ((userId = await engine.hget(`${base}s:${member}`, 'uid')) !== null) break;
          if (userId !== null) perUser.push({ userId, sessions: live.length });
        }
      }
      perUser.sort((a, b) => b.sessions - a.sessions);
    }
    return { activeSessions, users: perUser.length, perUser: perUser.slice(0, top), counters: { ...this.counters } };
  }

  /**
   * One bounded step of the background sweep: prunes ended entries from up to `maxKeys` user
   * indexes, continuing where the last step stopped, and trims a few groups' live sets. Returns the
   * number of index entries removed.
   */
  async sweep(maxKeys = SWEEP_KEYS_PER_TICK): Promise<number> {
    if (this.sweeping || this.closed) return 0;
    this.sweeping = true;
    let removed = 0;
    try {
      const engine = this.engine;
      await this.keepSecret();
      const now = await engine.time();
      for (let i = 0; i < GROUPS_PER_SWEEP && !this.closed; i++) {
        await engine.zremRangeByScore(groupLiveKey(this.sweepGroup), -Infinity, now);
        this.sweepGroup = (this.sweepGroup + 1) % SESSION_GROUPS;
      }
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

  /**
   * The HMAC key of user tags: `session.secret`, or one generated once and kept in Redis (SET NX,
   * so every instance ends up with the first one written). Never answered from an instance's
   * memory during an outage: a tag computed with a local secret would route nowhere afterwards.
   */
  private serverSecret(): Promise<Buffer> {
    this.secret ??= (async () => {
      await this.engine.set(SECRET_KEY, randomBytes(32).toString('base64url'), { nx: true, fallback: false });
      const stored = await this.engine.get(SECRET_KEY, { fallback: false });
      if (!stored) throw new SessionInputError(`the session secret kept in Redis (${SECRET_KEY}) vanished; set session.secret`);
      return Buffer.from(stored, 'utf8');
    })();
    const pending = this.secret;
    // A failed load (Redis away) is retried by the next call rather than remembered.
    pending.catch(() => {
      if (this.secret === pending) this.secret = undefined;
    });
    return pending;
  }

  /**
   * A generated secret that vanished from Redis (evicted under an allkeys-* policy, a FLUSHALL) would
   * let the next instance to start generate another one, and its sessions would be invisible to
   * this instance's list/revokeAll. Each sweep writes the secret this instance uses back (SET NX)
   * and says so loudly if Redis holds a different one.
   */
  private async keepSecret(): Promise<void> {
    if (this.configuredSecret || !this.secret) return;
    const mine = (await this.secret.catch(() => null))?.toString('utf8');
    if (!mine) return;
    await this.engine.set(SECRET_KEY, mine, { nx: true, fallback: false });
    const stored = await this.engine.get(SECRET_KEY, { fallback: false });
    if (stored !== mine && !this.secretConflictLogged) {
      this.secretConflictLogged = true;
      this.logger.error(`The session secret kept in Redis (${SECRET_KEY}) changed under this instance; set session.secret so every instance uses the same one`);
    }
  }

  /** One refresh attempt: reads the record (and the family pointer), then runs the script with every key declared. */
  private async rotate(keys: UserKeys, presented: string, presentedSecret: string): Promise<SessionTokens | null | 'again'> {
    const engine = this.engine;
    const r = keys.refresh(presented);
    // Read from Redis only: a rotation decided on one instance's memory would split the family.
    const record = await engine.get(r, { fallback: false });
    if (record === null) return null;
    const match = /^([cxg]):([A-Za-z0-9_-]+)(?::|$)/.exec(record);
    if (!match) return null;
    const [, state, family] = match as unknown as [string, string, string];
    let current = '';
    let sessionKey: string;
    if (state === 'c') {
      sessionKey = keys.session(record.slice(3 + family.length));
    } else {
      current = (await engine.get(keys.family(family), { fallback: false })) ?? '';
      if (current === '') {
        // The family has ended already: a retired token is still reuse, with nothing left to revoke.
        this.reused('', 0);
        return null;
      }
      sessionKey = keys.session(current);
    }
    const session = issueToken(keys.tag);
    const refresh = issueToken(keys.tag);
    const graceMs = this.options.refreshGraceMs;
    const sealed = graceMs > 0 ? sealPair(presentedSecret, session.token, refresh.token) : '';
    const reply = asList(
      await engine.runScript(
        SESSION_REFRESH,
        [r, keys.family(family), sessionKey, keys.idx, keys.live, keys.session(session.hash), keys.refresh(refresh.hash)],
        [presented, record, current, session.hash, refresh.hash, graceMs, sealed],
      ),
    );
    const status = Number(reply[0]);
    if (status === 1) {
      this.counters.refreshed++;
      await this.replicate('refresh');
      return { sessionId: session.token, refreshToken: refresh.token, expiresAt: Number(reply[2]), absoluteExpiresAt: Number(reply[3]) };
    }
    if (status === 2) {
      const pair = openPair(presentedSecret, String(reply[1]));
      if (!pair) return null;
      this.counters.refreshGraceReplays++;
      return { ...pair, expiresAt: Number(reply[2]), absoluteExpiresAt: Number(reply[3]) };
    }
    if (status === -1) {
      const revoked = Number(reply[1]);
      if (reply[2] && reply[3] && !this.store.outage()) await this.forget(keys, String(reply[2]), family, String(reply[3]));
      await this.replicate('refresh-reuse');
      this.reused(String(reply[4] ?? ''), revoked);
      return null;
    }
    if (status === -2 || status === -3) return 'again';
    return null;
  }

  private reused(userId: string, revoked: number): void {
    this.counters.reuseDetected++;
    this.counters.revoked += revoked;
    // No id, token or user in the log line: the event carries what the app needs.
    this.logger.warn(`A retired refresh token was presented again; its family was revoked (${revoked} live session(s))`);
    this.emit('refresh-reuse', { userId, revoked });
  }

  private async read<T>(sessionId: string, throttleMs: number): Promise<Session<T> | null> {
    const parsed = parseToken(sessionId);
    if (!parsed) return null;
    this.startSweep();
    const local = this.options.whenUnavailable === 'allow-local';
    // A revocation Redis refused on replay is still being retried: any session may be one it ends.
    if (this.engine.refusedWrites('session') > 0) throw this.unavailable('a session revocation has not reached Redis yet');
    if (this.store.outage() && !local) throw this.unavailable();
    const keys = userKeys(parsed.tag);
    let reply: ScriptReply[];
    try {
      // 'reject': one process's memory cannot say a session is invalid, so no answer from it.
      reply = asList(
        await this.engine.runScript(SESSION_TOUCH, [keys.session(parsed.hash), keys.idx, keys.live], [parsed.hash, '1', throttleMs], { fallback: local }),
      );
    } catch (error) {
      if (isUnavailable(error)) throw this.unavailable(undefined, error);
      if (!isSlotMoving(error)) throw error;
      // A record that is gone is a definite "no session"; one that is still there cannot be checked
      // until its slot has moved.
      if (await this.recordExists(keys.session(parsed.hash))) throw this.unavailable('its Cluster slot is being migrated', error);
      return null;
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
    if (!sameHash(String(sid), parsed.hash) || typeof uid !== 'string') return null;
    const fields = sessionFields<T>([ua, ip, data, ca, ls, exp, abs]);
    return fields && { userId: uid, ...fields };
  }

  private unavailable(why = 'Redis is unavailable', cause?: unknown): SessionUnavailableError {
    this.counters.rejectedWhileUnavailable++;
    return new SessionUnavailableError(`the session cannot be checked: ${why}`, { cause });
  }

  /**
   * While a slot migrates, a script whose keys are not all on one node gets TRYAGAIN until the move
   * completes, and a script that needs a record that no longer exists never runs. A record that is
   * gone (single-key EXISTS, which follows ASK) is a definite "no session": a validate can say so
   * instead of failing.
   */
  private async recordExists(key: string): Promise<boolean> {
    try {
      return await this.engine.exists(key, { fallback: false });
    } catch {
      return true;
    }
  }

  private async revokeHash(keys: UserKeys, hash: string): Promise<boolean> {
    // A security write: journaled apart while Redis is away (the call fails when that journal is full).
    const reply = asList(
      await this.engine.runScript(SESSION_REVOKE, [keys.session(hash), keys.idx, keys.live], [hash], { replayOnRecovery: 'security', capability: 'session' }),
    );
    const removed = Number(reply[0]);
    const queued = this.store.outage();
    if (removed > 0) this.counters.revoked += removed;
    if (!queued && reply[1]) await this.forget(keys, hash, String(reply[1]), String(reply[2] ?? ''));
    await this.replicate('revoke');
    return removed > 0 || queued;
  }

  /** Deletes the record of a session that already left the index, then what pointed at it. Best effort. */
  private async dropRecord(keys: UserKeys, hash: string): Promise<void> {
    if (this.store.outage()) return;
    try {
      const reply = asList(await this.engine.runScript(SESSION_REVOKE, [keys.session(hash), keys.idx, keys.live], [hash]));
      if (reply[1]) await this.forget(keys, hash, String(reply[1]), String(reply[2] ?? ''));
    } catch {
      // Left to expire: the record at its idle deadline, the pointers at the absolute one.
    }
  }

  /** Deletes an ended session's family pointer and current refresh record, if they still name it. Best effort. */
  private async forget(keys: UserKeys, hash: string, family: string, refreshHash = ''): Promise<void> {
    if (!family) return;
    try {
      await this.engine.runScript(SESSION_FORGET, [keys.family(family), keys.refresh(refreshHash)], [hash, family]);
    } catch {
      // Both expire at the family's absolute deadline; a refresh finds the session gone meanwhile.
    }
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
function sessionFields<T>([ua, ip, data, ca, ls, exp, abs]: readonly (ScriptReply | undefined)[]): Omit<Session<T>, 'userId'> | null {
  let parsed: T;
  try {
    parsed = JSON.parse(String(data)) as T;
  } catch {
    return null;
  }
  return {
    data: parsed,
    userAgent: orUndefined(ua),
    ip: orUndefined(ip),
    createdAt: Number(ca),
    lastSeenAt: Number(ls),
    expiresAt: Number(exp),
    absoluteExpiresAt: Number(abs),
  };
}

/** A multi-key command on a slot in the middle of a migration that ioredis gave up resending. */
function isSlotMoving(error: unknown): boolean {
  return error instanceof Error && /TRYAGAIN|Too many Cluster redirections/.test(error.message);
}

function orUndefined(value: ScriptReply | undefined): string | undefined {
  return value === null || value === undefined || value === '' ? undefined : String(value);
}

function optionalText(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new SessionInputError(`${what} must be a string`);
  return value;
}
