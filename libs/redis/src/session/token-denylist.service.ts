import { createHash } from 'node:crypto';
import { DENYLIST_ADD } from '../engine/scripts/session.scripts.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { DenylistInputError } from './session.errors.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionOptions } from './session.options.js';
import { isUnavailable, SessionEngine, type EngineSource } from './session.engine.js';

/** A token to deny until it expires: its `jti`, `iss` and `exp` claims. */
export interface DenyInput {
  /** The JWT `jti` claim. */
  jti: string;
  /** The JWT `iss` claim: two issuers may use the same jti. */
  iss: string;
  /** The JWT `exp` claim, in seconds since the epoch: the entry is kept until then plus `denylist.clockSkew`. */
  exp: number;
}

const MAX_CLAIM_LENGTH = 1024;

/**
 * A JWT deny-list keyed by (iss, jti) and kept until the token's own `exp` plus a clock-skew margin. Never keyed by the raw
 * JWT or its hash: signature malleability would let a re-encoded revoked token through (OWASP JWT
 * Cheat Sheet). Claims are hashed into the key, so they cannot break out of their segment.
 *
 * While Redis cannot be asked, `isDenied` answers true (`denylist.whenUnavailable: 'closed'`, the
 * default) or, with `'open'`, from the entries this instance wrote during the outage. Entries written
 * during an outage reach Redis on recovery; while one that Redis refused on replay is being retried,
 * `isDenied` answers true whatever the policy. `deny` rejects with `JournalFullError` when the
 * security journal is full.
 */
export class TokenDenylist {
  readonly options: ResolvedSessionOptions;
  private readonly store: SessionEngine;
  private readonly counters = { denied: 0, expiredNoop: 0, answeredWhileUnavailable: 0, replicationUnconfirmed: 0 };

  constructor(
    source: EngineSource,
    options: SessionOptions = {},
  ) {
    this.options = resolveSessionOptions(options);
    this.store = new SessionEngine(source);
  }

  onModuleInit(): void {
    void this.engine;
  }

  /**
   * Denies the token until its `exp` plus `session.denylist.clockSkew` (default 60 s): a verifier
   * with clock tolerance, or a clock behind Redis's, still accepts the token for a while after
   * `exp`. Resolves false, storing nothing, when that moment has already passed on the Redis clock.
   */
  async deny(input: DenyInput): Promise<boolean> {
    const key = this.keyOf(input);
    const exp = input?.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new DenylistInputError('exp must be a number of seconds since the epoch (the JWT exp claim)');
    const expMs = Math.ceil(exp * 1000);
    if (expMs - Date.now() > this.options.denylistMaxTtlMs) {
      throw new DenylistInputError(`exp lies more than session.denylist.maxTtl (${this.options.denylistMaxTtlMs} ms) ahead; is it in milliseconds instead of seconds?`);
    }
    // A security write: journaled apart while Redis is away, and the call fails (JournalFullError)
    // rather than resolve and be lost when that journal is full.
    const stored =
      Number(
        await this.engine.runScript(DENYLIST_ADD, [key], [expMs, this.options.denylistClockSkewMs], { replayOnRecovery: 'security', capability: 'denylist' }),
      ) === 1;
    if (stored) this.counters.denied++;
    else this.counters.expiredNoop++;
    if (this.options.durability === 'replicated') {
      const acknowledged = await this.engine.wait(1, this.options.replicationTimeoutMs);
      if (acknowledged < 1) this.counters.replicationUnconfirmed++;
    }
    return stored;
  }

  async isDenied(input: { jti: string; iss: string }): Promise<boolean> {
    const key = this.keyOf(input);
    const closed = this.options.denylistWhenUnavailable === 'closed';
    // A deny Redis refused on replay is still being retried: Redis cannot answer for it yet, and
    // with either policy "not denied" could be wrong.
    if (this.engine.refusedWrites('denylist') > 0) return this.unavailable(true);
    if (this.store.outage() && closed) return this.unavailable(true);
    try {
      // Closed: "not found" from one process's memory says nothing about what Redis holds, so this
      // call may not be answered from the fallback. Open: an entry kept locally still counts.
      return await this.engine.exists(key, { fallback: !closed });
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      return this.unavailable(closed);
    }
  }

  stats() {
    return { ...this.counters };
  }

  private unavailable(answer: boolean): boolean {
    this.counters.answeredWhileUnavailable++;
    return answer;
  }

  private keyOf(input: { jti: string; iss: string } | undefined): string {
    const jti = claim(input?.jti, 'jti');
    const iss = claim(input?.iss, 'iss');
    return `sess:dl:${digest(iss)}:${digest(jti)}`;
  }

  private get engine(): StoreEngine {
    return this.store.engine;
  }

}

function claim(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new DenylistInputError(`${what} is required (a non-empty string claim)`);
  if (value.length > MAX_CLAIM_LENGTH) throw new DenylistInputError(`${what} must be at most ${MAX_CLAIM_LENGTH} characters`);
  return value;
}

const digest = (text: string): string => createHash('sha256').update(text).digest('base64url');
