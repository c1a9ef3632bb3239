import { EventEmitter } from 'node:events';
import { Logger, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ScriptReply } from '../engine/script.registry.js';
import { SESSION_CREATE, SESSION_REVOKE, SESSION_TOUCH, sessionListScript, sessionRevokeAllScript } from '../engine/scripts/session.scripts.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { toMs } from '../duration.js';
import { CREATE_ATTEMPTS, dropRecord, forget, RACE_ATTEMPTS, replicate, type SessionContext } from './session.context.js';
import { isUnavailable, SessionEngine, type EngineSource } from './session.engine.js';
import { SessionInputError, SessionUnavailableError } from './session.errors.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from './session.options.js';
import { announceRevocation, subscribeRevocations, type SessionRevocationNotice } from './session.revocation.js';
import type { Unsubscribe } from '../engine/store-engine.port.js';
import { asList, isSlotMoving, optionalText, sessionFields } from './session.records.js';
import { refreshSession } from './session.refresh.js';
import { SessionSecret } from './session.secret.js';
import { SessionCounting } from './session.stats.js';
import { SessionSweep, SWEEP_KEYS_PER_TICK } from './session.sweep.js';
import { checkUserId, ipDigest, issueToken, newFamilyId, parseToken, sameHash, userKeys, userTag, type UserKeys } from './session.tokens.js';
import type { CreateSessionInput, RefreshReuseEvent, Session, SessionCounters, SessionListEntry, SessionServiceEvents, SessionStats, SessionTokens } from './session.types.js';

// The shapes moved to session.types.ts; they stay importable from here, where apps have always found them.
export type {
  CreateSessionInput,
  RefreshReuseEvent,
  Session,
  SessionCounters,
  SessionListEntry,
  SessionServiceEvents,
  SessionStats,
  SessionTokens,
} from './session.types.js';

const MAX_USER_AGENT = 512;
const MAX_IP = 64;

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
  // The parts in session.*.ts share this service's counters, engine and events through it.
  private readonly ctx: SessionContext;
  private readonly secret: SessionSecret;
  private readonly sweeper: SessionSweep;
  private readonly counting: SessionCounting;

  constructor(
    source: EngineSource,
    options: SessionOptions = {},
  ) {
    super();
    this.options = resolveSessionOptions(options);
    this.store = new SessionEngine(source);
    this.secret = new SessionSecret(() => this.engine, this.logger, options?.secret);
    this.ctx = { options: this.options, store: this.store, counters: this.counters, logger: this.logger, events: this, startSweep: () => this.sweeper.start() };
    this.sweeper = new SessionSweep(this.ctx, this.secret);
    this.counting = new SessionCounting(this.ctx);
  }

  /**
   * Resolves the engine at start-up, so a wrong `session.connection` stops the app there, and learns
   * a generated secret while Redis answers (again after each outage): an instance that knows it can
   * still create sessions while Redis is away. Waits at most one command deadline.
   */
  async onModuleInit(): Promise<void> {
    const engine = this.engine;
    await this.secret.warmUp(engine);
  }

  beforeApplicationShutdown(): void {
    this.close();
  }

  /** Stops the background sweep. The engine belongs to its connection and is left open. */
  close(): void {
    this.secret.close();
    this.sweeper.close();
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
    this.sweeper.start();
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
        for (const victim of reply.slice(5)) await dropRecord(this.ctx, keys, String(victim));
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
    this.sweeper.start();
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
      const ended = asList(reply[1] ?? []).map(String);
      for (let i = 0; i + 2 < ended.length; i += 3) await forget(this.ctx, keys, ended[i]!, ended[i + 1]!);
      for (const h of asList(reply[2] ?? [])) await dropRecord(this.ctx, keys, String(h));
    }
    await replicate(this.ctx, 'revokeAll');
    await announceRevocation(this.engine, keep === '' ? { userId } : { userId, except: keep }, this.logger);
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
    return refreshSession(this.ctx, refreshToken);
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
    return this.counting.activeSessions(options);
  }

  /**
   * `activeSessions` from the live sets (O(1) in the number of sessions); `users` and `perUser` scan
   * every user's index (SCAN, in batches): for dashboards, not request paths. `top: 0` skips the scan.
   */
  async stats(options: { top?: number } = {}): Promise<SessionStats> {
    return this.counting.stats(options);
  }

  /**
   * One bounded step of the background sweep: prunes ended entries from up to `maxKeys` user
   * indexes, continuing where the last step stopped, and trims a few groups' live sets. Returns the
   * number of index entries removed.
   */
  async sweep(maxKeys = SWEEP_KEYS_PER_TICK): Promise<number> {
    return this.sweeper.step(maxKeys);
  }

  /**
   * Calls `handler` for every revocation made on any instance sharing this session store (through
   * its pub/sub; within the instance while Redis is away). Resolves once subscribed.
   * @internal For holders of long-lived connections (the Socket.IO adapter).
   */
  onRevocation(handler: (notice: SessionRevocationNotice) => void): Promise<Unsubscribe> {
    return subscribeRevocations(this.engine, handler);
  }

  // ---- internals ----------------------------------------------------------------------------

  private get engine(): StoreEngine {
    return this.store.engine;
  }

  private serverSecret(): Promise<Buffer> {
    return this.secret.get();
  }

  private async read<T>(sessionId: string, throttleMs: number): Promise<Session<T> | null> {
    const parsed = parseToken(sessionId);
    if (!parsed) return null;
    this.sweeper.start();
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
    if (!queued && reply[1]) await forget(this.ctx, keys, hash, String(reply[1]), String(reply[2] ?? ''));
    await replicate(this.ctx, 'revoke');
    if (removed > 0 || queued) await announceRevocation(this.engine, { hashes: [hash] }, this.logger);
    return removed > 0 || queued;
  }
}
