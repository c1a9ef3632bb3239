import { expect } from '@jest/globals';
import type { ScriptDefinition, ScriptReply } from '../../src/engine/script.registry.js';
import { CACHE_LOAD_BEGIN, CACHE_LOCK_FAIL, CACHE_TAG_VERSION, CACHE_WRITE } from '../../src/engine/scripts/cache.scripts.js';
import { COLLECTION_WRITE } from '../../src/engine/scripts/collections.scripts.js';
import { COUNTER_INCR, LOCK_EXTEND, LOCK_RELEASE } from '../../src/engine/scripts/engine.scripts.js';
import { HISTORY_APPEND } from '../../src/engine/scripts/history.scripts.js';
import { PRESENCE_STATUS, PRESENCE_SYNC, PRESENCE_USER } from '../../src/engine/scripts/presence.scripts.js';
import { RATE_LIMIT_ALGORITHM_CODE, rateLimitBatchScript, rateLimitCheckScript } from '../../src/engine/scripts/rate-limit.scripts.js';
import {
  DENYLIST_ADD,
  SESSION_COUNT,
  SESSION_CREATE,
  SESSION_FORGET,
  SESSION_REFRESH,
  SESSION_REVOKE,
  SESSION_TOUCH,
  sessionListScript,
  sessionRevokeAllScript,
} from '../../src/engine/scripts/session.scripts.js';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import { userKeys, type UserKeys } from '../../src/session/session.tokens.js';
import type { RateLimitAlgorithm } from '../../src/rate-limit/rate-limit.options.js';

/**
 * The inputs of the script contract suite: for every script of ALL_SCRIPTS (by name), a case that
 * drives it with seeded random inputs, and optional examples with exact expectations. Scripts that
 * only make sense together (the session scripts) share one case. The suite fails for a script of
 * ALL_SCRIPTS that has no case here, and for a case whose sequence never ran one of its scripts.
 */

export type ScriptArgs = (string | number)[] | ((engine: StoreEngine) => Promise<(string | number)[]>);

export type Compare = (lua: ScriptReply, twin: ScriptReply) => string | null;

export interface SequenceContext {
  /** Seeded: the same sequence on every run, so a failure reproduces. */
  random: () => number;
  /** Unique to this run; every key the sequence touches starts with it. */
  space: string;
  /**
   * Runs the script with the same keys and arguments as Lua on Redis and as its twin in memory,
   * at the same moment, and fails unless the replies are equal; returns the twin's reply. Arguments
   * that depend on what each side holds (a record stamped with that side's clock) are read per side.
   */
  run(script: ScriptDefinition, keys: string[], args: ScriptArgs, options?: { normalize?: (r: ScriptReply) => ScriptReply; compare?: Compare }): Promise<ScriptReply>;
  /** A plain engine operation on both sides (to set up state a script reads). */
  both<T>(op: (engine: StoreEngine) => Promise<T>): Promise<T>;
  /** Counts an outcome, for `reaches`. */
  note(outcome: string): void;
  sleep(ms: number): Promise<void>;
}

export interface ScriptCase {
  seeds: readonly number[];
  sequence(ctx: SequenceContext): Promise<void>;
  /** How often each seed must reach an outcome at least, or the sequence proves less than it claims. */
  reaches?: Readonly<Record<string, number>>;
  /** Exact expectations run on every StoreEngine by the engine contract suite; `k` namespaces a key. */
  examples?: Record<string, (e: StoreEngine, k: (key: string) => string) => Promise<void>>;
}

/** A small seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Replies are equal when they match exactly, except epoch-millisecond timestamps (Redis TIME and
 * the process clock, read a few ms apart) and, where `tolerant` says so, remaining TTLs.
 */
export function sameReply(a: ScriptReply, b: ScriptReply, path = 'reply', tolerant: (path: string) => boolean = () => false): string | null {
  if (typeof a === 'number' && typeof b === 'number' && ((a > 1e12 && b > 1e12) || tolerant(path))) return Math.abs(a - b) <= 250 ? null : `${path}: ${a} vs ${b}`;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length} (${JSON.stringify(a)} vs ${JSON.stringify(b)})`;
    for (let i = 0; i < a.length; i++) {
      const d = sameReply(a[i]!, b[i]!, `${path}[${i}]`, tolerant);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

const once = (outcomes: string[]): Record<string, number> => Object.fromEntries(outcomes.map((o) => [o, 1]));

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/* ------------------------------------------------------------------------------------------------
 * Locks, counters, the cache's lock-fail: owner checks on a few keys, windowed counters.
 * ---------------------------------------------------------------------------------------------- */

const ENGINE_CASE: ScriptCase = {
  seeds: [7, 8],
  reaches: once(['release:1', 'release:0', 'extend:1', 'extend:0', 'lockFail:1', 'lockFail:0', 'counter:new', 'counter:more']),
  async sequence({ random, space, run, both, note }) {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const locks = [0, 1, 2, 3].map((i) => `${space}lock:{l${i}}`);
    const counters = [0, 1].map((i) => `${space}ctr:{c${i}}`);
    const tokens = ['owner-1', 'owner-2', 'owner-3'];
    // The second element of counter-incr is a remaining TTL, read on two clocks.
    const ttlTolerant: Compare = (l, t) => sameReply(l, t, 'reply', (p) => p === 'reply[1]');
    for (let step = 0; step < 200; step++) {
      const dice = random();
      const key = pick(locks);
      if (dice < 0.25) {
        const token = pick(tokens);
        await both((e) => e.set(key, token, { ttlMs: 60_000 }));
      } else if (dice < 0.45) {
        note(`release:${String(await run(LOCK_RELEASE, [key], [pick(tokens)]))}`);
      } else if (dice < 0.65) {
        note(`extend:${String(await run(LOCK_EXTEND, [key], [pick(tokens), pick([1_000, 60_000, 120_000])]))}`);
      } else if (dice < 0.8) {
        const token = pick(tokens);
        note(`lockFail:${String(await run(CACHE_LOCK_FAIL, [key], [token, `${token}!loader failed ${step}`, 30_000]))}`);
      } else {
        const windowMs = pick([10_000, 60_000]);
        const reply = (await run(COUNTER_INCR, [pick(counters)], [1 + Math.floor(random() * 5), windowMs], { compare: ttlTolerant })) as number[];
        note(reply[1] === windowMs ? 'counter:new' : 'counter:more');
      }
    }
  },
  examples: {
    'lock release and extend only act for the owner': async (e, k) => {
      await e.set(k('lock'), 'owner-1', { ttlMs: 1000 });
      expect(await e.runScript(LOCK_EXTEND, [k('lock')], ['owner-2', 5000])).toBe(0);
      expect(await e.runScript(LOCK_EXTEND, [k('lock')], ['owner-1', 5000])).toBe(1);
      expect(await e.pttl(k('lock'))).toBeGreaterThan(1000);
      expect(await e.runScript(LOCK_RELEASE, [k('lock')], ['owner-2'])).toBe(0);
      expect(await e.get(k('lock'))).toBe('owner-1');
      expect(await e.runScript(LOCK_RELEASE, [k('lock')], ['owner-1'])).toBe(1);
      expect(await e.get(k('lock'))).toBeNull();
      expect(await e.runScript(LOCK_RELEASE, [k('lock')], ['owner-1'])).toBe(0);
    },
    'a windowed counter starts its window on the first hit': async (e, k) => {
      expect(await e.runScript(COUNTER_INCR, [k('ctr')], [1, 10_000])).toEqual([1, 10_000]);
      const [value, ttl] = (await e.runScript(COUNTER_INCR, [k('ctr')], [4, 99_999])) as [number, number];
      expect(value).toBe(5);
      expect(ttl).toBeGreaterThan(9_000);
      expect(ttl).toBeLessThanOrEqual(10_000);
    },
  },
};

/* ------------------------------------------------------------------------------------------------
 * Sessions and the deny-list: one interleaved sequence, since touch, refresh, revoke and list act
 * on what create made.
 * ---------------------------------------------------------------------------------------------- */

/** list replies are ordered by expiry; entries created in the same millisecond tie on one clock only. */
const byHash = (reply: ScriptReply): ScriptReply => (Array.isArray(reply) ? [...reply].sort((x, y) => String((x as ScriptReply[])[0]).localeCompare(String((y as ScriptReply[])[0]))) : reply);

/** A user's keys as the session service builds them, under the run's space (the hash tag is kept). */
function spaced(space: string, tag: string): UserKeys {
  const k = userKeys(tag);
  return {
    tag,
    base: space + k.base,
    idx: space + k.idx,
    live: space + k.live,
    epoch: space + k.epoch,
    session: (h) => space + k.session(h),
    refresh: (h) => space + k.refresh(h),
    family: (f) => space + k.family(f),
  };
}

const SESSION_CASE: ScriptCase = {
  seeds: [20261201],
  // The sequence reached every branch, or it proved less than it claims.
  reaches: once([
    'create:1',
    'create:1:evicted',
    'create:-3',
    'touch:1',
    'touch:0',
    'refresh:1',
    'refresh:2',
    'refresh:0',
    'refresh:-1',
    'refresh:-3',
    'revoke:1',
    'revoke:0',
    'forget:2',
    'list:1:some',
    'list:0:some',
    'revokeAll:some',
    'count:some',
    'deny:1',
    'deny:0',
  ]),
  async sequence({ random, space, run, both, note, sleep }) {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const token = (n = 43) => Array.from({ length: n }, () => ALPHABET[Math.floor(random() * 64)]).join('');
    // Three users; the first two share a group (a live set), as users of one group do.
    const users: UserKeys[] = [spaced(space, 'AAAA' + token(18)), spaced(space, 'AAAA' + token(18)), spaced(space, token(22))];
    const sessions = new Map<UserKeys, string[]>(users.map((u) => [u, []]));
    const refreshes = new Map<UserKeys, string[]>(users.map((u) => [u, []]));
    const families = new Map<string, { fam: string; rh: string }>();
    // The index on both sides (members only: scores are expiries on two clocks).
    const indexed = (u: UserKeys) => both(async (e) => (await e.zrange(u.idx, 0, -1)).map((x) => x.member).sort());
    // Sometimes only the first few (n = 0, 1, 2 each get their command variant), else about 90%.
    const declare = (hashes: string[]) => (random() < 0.3 ? hashes.slice(0, Math.floor(random() * 3)) : hashes.filter(() => random() < 0.9));

    /** As the service does: read the record (and the family pointer) first, declare every key. True when it rotated with a grace. */
    const refresh = async (u: UserKeys, presented: string): Promise<boolean> => {
      // The same record on both sides, but for the grace deadline, an epoch ms on each side's clock.
      const record = await both(async (e) => (await e.get(u.refresh(presented)))?.replace(/:\d{13}:/, ':T:') ?? null);
      if (record === null) {
        note('refresh:unknown');
        return false;
      }
      const fam = record.split(':')[1]!;
      const current = record.startsWith('c:') ? '' : ((await both((e) => e.get(u.family(fam)))) ?? '');
      const s = record.startsWith('c:') ? record.slice(3 + fam.length) : current;
      const h = token();
      const rh = token();
      const grace = random() < 0.5 ? 0 : 100_000;
      const stale = random() < 0.1;
      const sealed = grace ? `sealed${token(8)}` : '';
      const reply = (await run(
        SESSION_REFRESH,
        [u.refresh(presented), u.family(fam), u.session(s), u.idx, u.live, u.session(h), u.refresh(rh)],
        async (e) => [presented, stale ? 'c:stale:x' : ((await e.get(u.refresh(presented))) ?? ''), current, h, rh, grace, sealed],
      )) as ScriptReply[];
      note(`refresh:${String(reply[0])}`);
      if (reply[0] !== 1) return false;
      sessions.get(u)!.push(h);
      refreshes.get(u)!.push(rh);
      families.set(h, { fam, rh });
      return grace > 0;
    };

    for (let step = 0; step < 400; step++) {
      // Steps at distinct milliseconds on both clocks, so expiry scores never tie on one side only
      // (eviction picks the lowest score).
      await sleep(2);
      const u = pick(users);
      const known = sessions.get(u)!;
      const knownRefresh = refreshes.get(u)!;
      const dice = random();
      if (dice < 0.25 || known.length === 0) {
        const h = token();
        const rh = token();
        const fam = token(22);
        // A short session is dead by the next step on both clocks (steps are 2 ms apart at least):
        // an expiry that fell between the two sides' reads of the clock would differ by timing alone.
        const short = random() < 0.2;
        const cap = random() < 0.2 ? 2 : 0;
        const origin = random() < 0.1 ? Date.now() - 5_000 : '';
        // A replayed creation: its outage began long before (or after) any revokeAll of the sequence.
        const replay = random();
        const notBefore = replay < 0.15 ? Date.now() - 600_000 : replay < 0.25 ? Date.now() + 600_000 : '';
        const reply = (await run(
          SESSION_CREATE,
          [u.idx, u.session(h), u.refresh(rh), u.family(fam), u.live, u.epoch],
          [h, rh, fam, short ? 1 : 3_600_000, 7_200_000, cap, origin, space, 'ua', 'ip', '{"n":1}', notBefore],
        )) as number[];
        note(`create:${reply[0]}${reply[4] ? ':evicted' : ''}`);
        if (reply[0] === 1) {
          known.push(h);
          knownRefresh.push(rh);
          families.set(h, { fam, rh });
        }
      } else if (dice < 0.4) {
        const h = random() < 0.9 ? pick(known) : token();
        const reply = (await run(SESSION_TOUCH, [u.session(h), u.idx, u.live], [h, random() < 0.8 ? '1' : '0', random() < 0.5 ? 0 : 60_000])) as ScriptReply[];
        note(`touch:${reply[0]}`);
      } else if (dice < 0.6) {
        const presented = random() < 0.9 ? pick(knownRefresh) : token();
        const rotated = await refresh(u, presented);
        // A client retrying the same token right away (the case refreshGrace is for).
        if (rotated && random() < 0.5) await refresh(u, presented);
      } else if (dice < 0.7) {
        const h = pick(known);
        const reply = (await run(SESSION_REVOKE, [u.session(h), u.idx, u.live], [h])) as ScriptReply[];
        note(`revoke:${String(reply[0])}`);
        const f = families.get(h);
        if (f && random() < 0.7) note(`forget:${String(await run(SESSION_FORGET, [u.family(f.fam), u.refresh(f.rh)], [h, f.fam]))}`);
      } else if (dice < 0.75) {
        const keep = random() < 0.5 ? pick(known) : '';
        // Declare what the index holds, sometimes not all of it (a session indexed after the read).
        const hashes = declare((await indexed(u)).filter((h) => h !== keep));
        // Replayed after an outage, the epoch dates from the outage's start.
        const since = random() < 0.3 ? Date.now() - 30_000 : '';
        const hold = pick([7_200_000, 60_000]);
        const reply = (await run(sessionRevokeAllScript(hashes.length), [u.idx, u.live, u.epoch, ...hashes.map(u.session)], [keep, since, hold, ...hashes])) as ScriptReply[];
        note(`revokeAll:${Number(reply[0]) > 0 ? 'some' : 'none'}`);
      } else if (dice < 0.85) {
        const hashes = declare(await indexed(u));
        const reply = (await run(sessionListScript(hashes.length), [u.idx, u.live, ...hashes.map(u.session)], hashes, {
          normalize: (r) => [(r as ScriptReply[])[0]!, byHash((r as ScriptReply[])[1]!)],
        })) as ScriptReply[];
        note(`list:${String(reply[0])}:${(reply[1] as ScriptReply[]).length > 0 ? 'some' : 'none'}`);
      } else if (dice < 0.9) {
        note(`count:${Number(await run(SESSION_COUNT, [u.live], [])) > 0 ? 'some' : 'none'}`);
      } else {
        const key = `${space}sess:dl:${token(8)}`;
        const exp = Date.now() + (random() < 0.3 ? -1_000 : 60_000);
        const skew = random() < 0.5 ? 0 : 500;
        note(`deny:${String(await run(DENYLIST_ADD, [key], [exp, skew]))}`);
        await both((e) => e.exists(key));
      }
      // Every so often let the short-lived sessions expire, so the expiry branches run too.
      if (step % 100 === 99) await sleep(300);
    }
  },
  examples: {
    'a creation replayed from an outage is refused once a revokeAll ran after the outage began': async (e, k) => {
      const u = spaced(k(''), 'AAAAAAAAAAAAAAAAAAAAAA');
      const create = (h: string, notBefore: number | '') =>
        e.runScript(SESSION_CREATE, [u.idx, u.session(h), u.refresh(`r${h}`), u.family(`f${h}`), u.live, u.epoch], [h, `r${h}`, `f${h}`, 60_000, 600_000, 0, '', 'uid', 'ua', 'ip', '{}', notBefore]);
      const revokeAll = (since: number | '') => e.runScript(sessionRevokeAllScript(0), [u.idx, u.live, u.epoch], ['', since, 600_000]);
      expect(((await create('a', Date.now() - 60_000)) as number[])[0]).toBe(1);
      // The epoch key exists with the user's first session (no revokeAll yet), for its absolute lifetime.
      expect(await e.get(u.epoch)).toBe('0');
      expect(await e.pttl(u.epoch)).toBeGreaterThan(500_000);
      expect(((await revokeAll('')) as number[])[0]).toBe(1);
      const epoch = Number(await e.get(u.epoch));
      expect(Math.abs(epoch - Date.now())).toBeLessThan(5_000);
      // Made during an outage that began before the revokeAll: a later revocation covers it.
      expect(await create('b', Date.now() - 60_000)).toEqual([-3]);
      expect(await e.zcard(u.idx)).toBe(0);
      // Made during an outage that began after it, or not replayed at all: created.
      expect(((await create('c', Date.now() + 60_000)) as number[])[0]).toBe(1);
      expect(((await create('d', '')) as number[])[0]).toBe(1);
      // A revokeAll replayed with an earlier outage start never lowers the epoch.
      await revokeAll(Date.now() - 120_000);
      expect(Number(await e.get(u.epoch))).toBe(epoch);
    },
  },
};

/* ------------------------------------------------------------------------------------------------
 * Rate-limit check: three algorithms, 1 to 3 policies a request, explicit clock far in the future.
 * ---------------------------------------------------------------------------------------------- */

interface Policy {
  algorithm: RateLimitAlgorithm;
  limit: number;
  windowMs: number;
  cost?: number;
}

const rateLimitArgs = (now: number, policies: Policy[]) => [now, ...policies.flatMap((p) => [RATE_LIMIT_ALGORITHM_CODE[p.algorithm], p.limit, p.windowMs, p.cost ?? 1])];

// Far enough in the future that Redis never expires a key before the simulated clock is done with it.
const T0 = Math.ceil((Date.now() + 3_600_000) / 10_000) * 10_000;

/** The same reply bar the origin flag: 1 when Redis decided (Lua), 0 when memory did (twin). */
const barOriginFlag: Compare = (lua, twin) => {
  const [l, t] = [lua as number[], twin as number[]];
  if (l[0] !== 1) return `the Lua reply must start with 1: ${JSON.stringify(l)}`;
  if (t[0] !== 0) return `the twin reply must start with 0: ${JSON.stringify(t)}`;
  return sameReply(l.slice(1), t.slice(1));
};

const RATE_LIMIT_CASE: ScriptCase = {
  seeds: [1, 2, 3, 4, 5, 6],
  // The sequences exercise both outcomes (more than 5 of each), or equality would prove little.
  reaches: { allowed: 6, refused: 6 },
  async sequence({ random, space, run, note }) {
    const algorithms: RateLimitAlgorithm[] = ['sliding-window', 'fixed-window', 'token-bucket'];
    // Three subjects, each with a fixed set of 1-3 policies (a key always has one algorithm).
    const subjects = [0, 1, 2].map((s) => {
      const n = 1 + Math.floor(random() * 3);
      return Array.from({ length: n }, (_, i) => ({
        key: `${space}rl:{${s}}:p${i}`,
        algorithm: algorithms[Math.floor(random() * 3)]!,
        limit: 1 + Math.floor(random() * 7),
        windowMs: [250, 1000, 1500, 3000][Math.floor(random() * 4)]!,
      }));
    });
    let now = T0 + Math.floor(random() * 1000);
    for (let step = 0; step < 160; step++) {
      now += Math.floor(random() * random() * 400);
      const subject = subjects[Math.floor(random() * 3)]!;
      const policies = subject.map((p) => ({ algorithm: p.algorithm, limit: p.limit, windowMs: p.windowMs, cost: 1 + Math.floor(random() * random() * p.limit) }));
      const keys = subject.map((p) => p.key);
      const reply = (await run(rateLimitCheckScript(keys.length), keys, rateLimitArgs(now, policies), { compare: barOriginFlag })) as number[];
      note(reply[1] === 1 ? 'allowed' : 'refused');
    }
  },
  examples: {
    'rate-limit check with the server clock (now = 0) answers from the store clock (Redis TIME)': async (e, k) => {
      const key = k('rl:{clock}:p');
      const p: Policy[] = [{ algorithm: 'fixed-window', limit: 2, windowMs: 60_000 }];
      const replies: number[][] = [];
      for (let i = 0; i < 3; i++) replies.push((await e.runScript(rateLimitCheckScript(1), [key], rateLimitArgs(0, p))) as number[]);
      expect(replies.map((r) => r[1])).toEqual([1, 1, 0]);
      const retry = replies[2]![5]!;
      expect(retry).toBeGreaterThan(55_000);
      expect(retry).toBeLessThanOrEqual(60_000);
    },
  },
};

/* ------------------------------------------------------------------------------------------------
 * Rate-limit batch: several requests of one subject in one call, as the rate limiter coalesces the
 * decisions of one event-loop turn (2 or more requests; 1 to 3 policies), interleaved with single
 * checks on the same keys.
 * ---------------------------------------------------------------------------------------------- */

const RATE_LIMIT_BATCH_CASE: ScriptCase = {
  seeds: [11, 12, 13, 14],
  reaches: { 'batch:allowed': 6, 'batch:refused': 6, 'batch:mixed': 2 },
  async sequence({ random, space, run, note }) {
    const algorithms: RateLimitAlgorithm[] = ['sliding-window', 'fixed-window', 'token-bucket'];
    // One subject per policy count, so every batch variant (1, 2, 3 keys) runs.
    const subjects = [1, 2, 3].map((n, s) =>
      Array.from({ length: n }, (_, i) => ({
        key: `${space}rl:{b${s}}:p${i}`,
        algorithm: algorithms[Math.floor(random() * 3)]!,
        limit: 1 + Math.floor(random() * 8),
        windowMs: [250, 1000, 1500, 3000][Math.floor(random() * 4)]!,
      })),
    );
    let now = T0 + Math.floor(random() * 1000);
    for (let step = 0; step < 90; step++) {
      now += Math.floor(random() * random() * 500);
      const subject = subjects[Math.floor(random() * 3)]!;
      const keys = subject.map((p) => p.key);
      const cost = () => subject.map((p) => 1 + Math.floor(random() * random() * p.limit));
      if (random() < 0.2) {
        const costs = cost();
        const policies = subject.map((p, i) => ({ ...p, cost: costs[i] }));
        await run(rateLimitCheckScript(keys.length), keys, rateLimitArgs(now, policies), { compare: barOriginFlag });
        continue;
      }
      const requests = 2 + Math.floor(random() * 6);
      const args: number[] = [...rateLimitArgs(now, subject), requests];
      for (let r = 0; r < requests; r++) args.push(...cost());
      const reply = (await run(rateLimitBatchScript(keys.length), keys, args, { compare: barOriginFlag })) as number[];
      // Per request: the decision, then four values per policy.
      const decisions = Array.from({ length: requests }, (_, r) => reply[1 + r * (1 + 4 * keys.length)]);
      for (const d of decisions) note(d === 1 ? 'batch:allowed' : 'batch:refused');
      if (decisions.includes(1) && decisions.includes(0)) note('batch:mixed');
    }
  },
};

/* ------------------------------------------------------------------------------------------------
 * Cache coherence: loads stake a key (marker or SHA1 of the value seen), guarded writes succeed only
 * if nothing touched the key since (and publish the L1 eviction), tag versions are created or have
 * their TTL raised. Interleaved with the invalidations and user writes that make a stake stale.
 * ---------------------------------------------------------------------------------------------- */

const CACHE_CASE: ScriptCase = {
  seeds: [31, 32, 33],
  reaches: once([
    'begin:marked',
    'begin:remarked',
    'begin:value',
    'write:eq:1',
    'write:eq:0',
    'write:sha:1',
    'write:sha:0',
    'write:plain',
    'write:published',
    'tag:create',
    'tag:keep',
  ]),
  async sequence({ random, space, run, both, note }) {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const token = () => Array.from({ length: 12 }, () => ALPHABET[Math.floor(random() * 64)]).join('');
    // Keys as the cache builds them (valueKey, tagKey), under the run's space.
    const values = [0, 1, 2].map((i) => `${space}cache:ns:k${i}`);
    const tags = [0, 1].map((i) => `${space}cachetag:ns:t${i}`);
    const guards = new Map<string, { kind: 'eq' | 'sha'; expected: string }[]>(values.map((k) => [k, []]));
    // TTLs long enough that no key expires between the two sides' reads (0: none).
    const ttl = () => pick([0, 60_000, 120_000, 600_000]);
    for (let step = 0; step < 250; step++) {
      const key = pick(values);
      const staked = guards.get(key)!;
      const dice = random();
      if (dice < 0.08) {
        // A user's SET, or an invalidation (DEL, pattern UNLINK).
        if (random() < 0.5) {
          const [value, ttlMs] = [`user-${token()}`, ttl()];
          await both((e) => e.set(key, value, { ttlMs }));
        }
        else await both((e) => e.del([key]));
      } else if (dice < 0.3) {
        const current = await both((e) => e.get(key));
        const marker = `~l|${token()}`;
        const reply = (await run(CACHE_LOAD_BEGIN, [key], [marker, pick([30_000, 120_000])])) as [number, string?];
        note(reply[0] === 1 ? (current === null ? 'begin:marked' : 'begin:remarked') : 'begin:value');
        staked.push(reply[0] === 1 ? { kind: 'eq', expected: marker } : { kind: 'sha', expected: String(reply[1]) });
      } else if (dice < 0.6) {
        // A loader finishing: usually the latest stake, sometimes an older one (overtaken) or a made-up one.
        const guard =
          staked.length > 0 && random() < 0.85
            ? random() < 0.7
              ? staked[staked.length - 1]!
              : pick(staked)
            : { kind: pick(['eq', 'sha'] as const), expected: random() < 0.5 ? `~l|${token()}` : '0'.repeat(40) };
        const publish = random() < 0.7;
        const message = publish ? JSON.stringify({ o: 'instance-1', n: 'ns', k: [key.slice(key.lastIndexOf(':') + 1)] }) : '';
        const written = await run(CACHE_WRITE, [key], [`{"v":"${token()}"}`, ttl(), guard.kind, guard.expected, message, 'cache:bus', key.length]);
        note(`write:${guard.kind}:${String(written)}`);
        if (written === 1 && publish) note('write:published');
      } else if (dice < 0.72) {
        // An unguarded write that publishes (as the engine's set with publish does on Cluster).
        const written = await run(CACHE_WRITE, [key], [`{"v":"${token()}"}`, ttl(), '', '', random() < 0.8 ? '{"o":"instance-2","n":"ns","k":["x"]}' : '', 'cache:bus', key.length]);
        note(`write:plain${written === 1 ? '' : ':refused'}`);
      } else if (dice < 0.8) {
        // A tag bump (a fresh version with a bounded TTL), or a version key lost to eviction.
        const tag = pick(tags);
        if (random() < 0.6) {
          // Drawn once, not per side (the callback runs once on each engine).
          const [version, ttlMs] = [token(), pick([30_000, 90_000])];
          await both((e) => e.set(tag, version, { ttlMs }));
        }
        else await both((e) => e.del([tag]));
      } else {
        const fresh = token();
        const version = await run(CACHE_TAG_VERSION, [pick(tags)], [fresh, ttl()]);
        note(version === fresh ? 'tag:create' : 'tag:keep');
      }
    }
  },
  examples: {
    'a staked load writes back only if nothing touched the key meanwhile': async (e, k) => {
      const key = k('cache:ns:a');
      const w = (raw: string, guard: string, expected: string) => e.runScript(CACHE_WRITE, [key], [raw, 60_000, guard, expected, '', 'cache:bus', key.length]);
      expect(await e.runScript(CACHE_LOAD_BEGIN, [key], ['~l|one', 30_000])).toEqual([1]);
      await e.del([key]);
      expect(await w('v1', 'eq', '~l|one')).toBe(0);
      expect(await e.get(key)).toBeNull();
      expect(await e.runScript(CACHE_LOAD_BEGIN, [key], ['~l|two', 30_000])).toEqual([1]);
      expect(await w('v2', 'eq', '~l|two')).toBe(1);
      const [placed, sha] = (await e.runScript(CACHE_LOAD_BEGIN, [key], ['~l|three', 30_000])) as [number, string];
      expect(placed).toBe(0);
      expect(await e.get(key)).toBe('v2');
      expect(await w('v3', 'sha', sha)).toBe(1);
      expect(await w('v4', 'sha', sha)).toBe(0);
      expect(await e.get(key)).toBe('v3');
    },
    'a tag version is created once and its TTL only raised': async (e, k) => {
      const tag = k('cachetag:ns:t');
      expect(await e.runScript(CACHE_TAG_VERSION, [tag], ['v1', 10_000])).toBe('v1');
      expect(await e.runScript(CACHE_TAG_VERSION, [tag], ['v2', 5_000])).toBe('v1');
      expect(await e.pttl(tag)).toBeGreaterThan(5_000);
      expect(await e.runScript(CACHE_TAG_VERSION, [tag], ['v3', 60_000])).toBe('v1');
      expect(await e.pttl(tag)).toBeGreaterThan(10_000);
      expect(await e.runScript(CACHE_TAG_VERSION, [tag], ['v4', 0])).toBe('v1');
      expect(await e.pttl(tag)).toBe(-1);
    },
  },
};

/* ------------------------------------------------------------------------------------------------
 * Collections: batched map writes that keep or overwrite existing fields (migration batches).
 * ---------------------------------------------------------------------------------------------- */

const DAY_MS = 24 * 60 * 60 * 1000;

/** A collection write as the engine sends it: op, writer, replay start ('' live), marker life, overwrite, ttl, items. */
const colArgs = (op: string, writer: string, since: string | number, overwrite: boolean, ttlMs: number, items: string[]) => [op, writer, since, DAY_MS, overwrite ? '1' : '0', ttlMs, ...items];

/** Runs a write on both sides; a refusal becomes the reply word, so both sides must refuse alike. */
const orRefusal = (e: StoreEngine, keys: string[], args: (string | number)[]) =>
  e.runScript(COLLECTION_WRITE, keys, args).catch((error: unknown) => `refused:${/^[A-Z]+/.exec(String((error as Error).message))?.[0]}`);

const COLLECTIONS_CASE: ScriptCase = {
  seeds: [17, 18],
  reaches: once(['hset:all', 'hset:some', 'hset:none', 'hset:overwrite', 'replay:applied', 'replay:conflict', 'replay:own', 'replay:tenant-cleared', 'set:nx-kept', 'lpush:capped', 'lrem:some']),
  async sequence({ random, space, run, both, note }) {
    const tags = [0, 1].map((i) => `{/c${i}}`);
    const fields = ['a', 'b', 'c', 'd', 'é', 'x:{y}*'];
    const writers = ['w1', 'w2'];
    const ops = ['hset', 'hdel', 'sadd', 'srem', 'zadd', 'zrem', 'lpush', 'lrem', 'set', 'del', 'touch'] as const;
    const keyOf = (op: string, tag: string) =>
      op === 'hset' || op === 'hdel'
        ? `${space}col::map:${tag}`
        : op === 'sadd' || op === 'srem'
          ? `${space}col::set:${tag}`
          : op === 'zadd' || op === 'zrem'
            ? `${space}col::lb:${tag}`
            : op === 'lpush' || op === 'lrem'
              ? `${space}col::list:${tag}`
              : `${space}col::mape:${tag}:e`;
    for (let step = 0; step < 240; step++) {
      const tag = tags[Math.floor(random() * tags.length)]!;
      const marker = `${space}colw::c:${tag}`;
      const op = ops[Math.floor(random() * ops.length)]!;
      const writer = writers[Math.floor(random() * writers.length)]!;
      const overwrite = random() < 0.5;
      const n = 1 + Math.floor(random() * 3);
      const items: string[] = [];
      for (let i = 0; i < n; i++) {
        const f = fields[Math.floor(random() * fields.length)]!;
        // Few distinct fields for hset, so "all already there" (HSETNX writes none) happens too.
        if (op === 'hset') items.push(fields[Math.floor(random() * 3)]!, `v${step}-${i}`);
        else if (op === 'zadd') items.push(String(Math.floor(random() * 100) - 50), f);
        else if (op === 'set' || op === 'lrem') items.splice(0, items.length, f);
        else if (op !== 'del' && op !== 'touch') items.push(f);
      }
      const keys = [marker, op === 'del' && random() < 0.5 ? keyOf(random() < 0.5 ? 'hset' : 'lpush', tag) : keyOf(op, tag)];
      // lpush: a cap of 0 (none) to 3; set: a TTL.
      const ttlOrCap = op === 'lpush' ? Math.floor(random() * 4) : 60_000;
      // A replay: its outage began a while ago (a write since conflicts), just now (none does), or
      // longer ago than a marker lives (nothing can be checked).
      const r = random();
      if (r < 0.35) {
        const lastWriter = await both(async (e) => (await e.get(marker))?.split(':')[1] ?? '');
        // ...or its tenant was cleared since (the replay read that from the tenant's marker).
        const since = r < 0.05 ? Date.now() - 2 * DAY_MS : r < 0.08 ? 'cleared' : r < 0.2 ? Date.now() - 60_000 : Date.now() + 1_000;
        const reply = await both((e) => orRefusal(e, keys, colArgs(op, writer, since, overwrite, ttlOrCap, items)));
        const own = lastWriter === writer;
        if (since === 'cleared' && typeof reply !== 'string') throw new Error(`collection-write: a replay into a cleared tenant was applied (${JSON.stringify(reply)})`);
        note(since === 'cleared' ? 'replay:tenant-cleared' : typeof reply === 'string' ? 'replay:conflict' : own && r >= 0.08 && r < 0.2 ? 'replay:own' : 'replay:applied');
        continue;
      }
      const reply = (await run(COLLECTION_WRITE, keys, colArgs(op, writer, '', overwrite, ttlOrCap, items))) as number;
      if (op === 'hset') note(overwrite ? 'hset:overwrite' : reply === 0 ? 'hset:none' : reply === n ? 'hset:all' : 'hset:some');
      if (op === 'set' && !overwrite && reply === 0) note('set:nx-kept');
      if (op === 'lpush' && ttlOrCap > 0 && reply === ttlOrCap) note('lpush:capped');
      if (op === 'lrem' && reply > 0) note('lrem:some');
    }
  },
  examples: {
    'a collection write keeps existing fields unless told to overwrite, and stamps the marker': async (e, k) => {
      await e.hset(k('{c}m'), { a: 'old' });
      expect(await e.runScript(COLLECTION_WRITE, [k('{c}w'), k('{c}m')], colArgs('hset', 'me', '', false, 0, ['a', 'new', 'b', 'new']))).toBe(1);
      expect(await e.hgetall(k('{c}m'))).toEqual({ a: 'old', b: 'new' });
      expect(await e.runScript(COLLECTION_WRITE, [k('{c}w'), k('{c}m')], colArgs('hset', 'me', '', true, 0, ['a', 'newer']))).toBe(1);
      expect(await e.hget(k('{c}m'), 'a')).toBe('newer');
      expect(await e.get(k('{c}w'))).toMatch(/^\d{13}:me$/);
    },
    'a replay is refused when another writer wrote since its outage began, not when only the replaying writer did': async (e, k) => {
      const since = (await e.time()) - 1;
      await e.runScript(COLLECTION_WRITE, [k('{c}w'), k('{c}m')], colArgs('hset', 'a', '', true, 0, ['f', 'a-live']));
      expect(await e.runScript(COLLECTION_WRITE, [k('{c}w'), k('{c}m')], colArgs('hset', 'a', since, true, 0, ['f', 'a-replayed']))).toBe(1);
      await e.runScript(COLLECTION_WRITE, [k('{c}w'), k('{c}m')], colArgs('hdel', 'b', '', true, 0, ['f']));
      await expect(e.runScript(COLLECTION_WRITE, [k('{c}w'), k('{c}m')], colArgs('hset', 'a', since, true, 0, ['f', 'again']))).rejects.toThrow(/^CONFLICT/);
      expect(await e.hget(k('{c}m'), 'f')).toBeNull();
      // An outage that began before b's write, but b's write came first: nothing newer than the outage.
      expect(await e.runScript(COLLECTION_WRITE, [k('{c}w'), k('{c}m')], colArgs('hset', 'a', (await e.time()) + 1000, true, 0, ['f', 'later']))).toBe(1);
    },
  },
};

/* ------------------------------------------------------------------------------------------------
 * Presence: sets of expiring entries (rooms, users) and the status that lives with a user's set.
 * ---------------------------------------------------------------------------------------------- */

const PRESENCE_CASE: ScriptCase = {
  seeds: [16, 61],
  reaches: once(['sync:members', 'sync:count', 'user:live', 'user:empty', 'user:status', 'status:set', 'status:kept', 'status:offline', 'status:none', 'status:read', 'lapsed']),
  async sequence({ random, space, run, note, sleep }) {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    const rooms = [0, 1].map((i) => `${space}presence:r:{pr:r${i}}`);
    const users = [0, 1, 2].map((i) => [`${space}presence:u:{pu:u${i}}`, `${space}presence:s:{pu:u${i}}`]);
    const members = ['i1|a', 'i1|b', 'i2|a', 'u%7C1|i1|c', 'x|i2|%F0%9F%8C%8D'];
    for (let step = 0; step < 160; step++) {
      const dice = random();
      // A 1 ms entry has lapsed on both clocks by the next step.
      const short = random() < 0.15;
      const ttl = short ? 1 : pick([5_000, 60_000]);
      const adds = members.filter(() => random() < 0.3);
      const removes = members.filter((m) => !adds.includes(m) && random() < 0.25);
      const args = [ttl, pick(['0', '1', '2']), adds.length, ...adds, ...removes];
      if (dice < 0.35) {
        const reply = (await run(PRESENCE_SYNC, [pick(rooms)], args)) as ScriptReply[];
        note(args[1] === '1' ? 'sync:members' : 'sync:count');
        if (args[1] !== '1' && reply.length !== 1) throw new Error(`presence-sync: ${JSON.stringify(reply)} lists members it was not asked for`);
        if (reply.length > 1 && (reply.length - 1) !== reply[0]) throw new Error(`presence-sync: ${JSON.stringify(reply)} lists other than its count`);
      } else if (dice < 0.7) {
        const reply = (await run(PRESENCE_USER, pick(users), args)) as ScriptReply[];
        note(reply[0] === 0 ? 'user:empty' : args[1] === '2' && reply.length === 2 ? 'user:status' : 'user:live');
      } else {
        const op = pick(['0', '1', '2']);
        const value = pick(['available', 'busy', 'a|{b}']);
        const reply = (await run(PRESENCE_STATUS, pick(users), op === '0' ? ['0'] : [op, value])) as ScriptReply[];
        note(reply[0] === 0 ? 'status:offline' : op === '1' ? 'status:set' : op === '2' ? (reply[1] === value ? 'status:set' : 'status:kept') : reply.length === 1 ? 'status:none' : 'status:read');
        continue;
      }
      if (short && adds.length > 0) {
        await sleep(5);
        note('lapsed');
      }
    }
  },
  examples: {
    'presence entries lapse on the store clock and take the user status with them': async (e, k) => {
      const [set, status, room] = [k('presence:u:{pu:x}'), k('presence:s:{pu:x}'), k('presence:r:{pr:x}')];
      expect(await e.runScript(PRESENCE_USER, [set, status], [60_000, '1', 2, 'i1|a', 'i2|b'])).toEqual([2, 'i1|a', 'i2|b']);
      expect(await e.runScript(PRESENCE_STATUS, [set, status], ['1', 'busy'])).toEqual([1, 'busy']);
      expect(await e.runScript(PRESENCE_STATUS, [set, status], ['0'])).toEqual([1, 'busy']);
      expect(await e.runScript(PRESENCE_STATUS, [set, status], ['2', 'available'])).toEqual([1, 'busy']);
      expect(await e.runScript(PRESENCE_USER, [set, status], [60_000, '2', 1, 'i1|a'])).toEqual([2, 'busy']);
      expect(await e.pttl(status)).toBeGreaterThan(50_000);
      expect(await e.runScript(PRESENCE_USER, [set, status], [60_000, '0', 0, 'i1|a'])).toEqual([1]);
      expect(await e.runScript(PRESENCE_STATUS, [set, status], ['0'])).toEqual([1, 'busy']);
      expect(await e.runScript(PRESENCE_USER, [set, status], [60_000, '0', 0, 'i2|b'])).toEqual([0]);
      expect(await e.get(status)).toBeNull();
      expect(await e.runScript(PRESENCE_STATUS, [set, status], ['1', 'busy'])).toEqual([0]);
      expect(await e.get(status)).toBeNull();
      expect(await e.runScript(PRESENCE_SYNC, [room], [1, '0', 1, 'u|i|s'])).toEqual([1]);
      await new Promise((r) => setTimeout(r, 10));
      expect(await e.runScript(PRESENCE_SYNC, [room], [60_000, '1', 0])).toEqual([0]);
      expect(await e.exists(room)).toBe(false);
    },
  },
};

/* ------------------------------------------------------------------------------------------------
 * Message history: the idempotent, capped append (a mid stored once while its entry is kept).
 * ---------------------------------------------------------------------------------------------- */

/** Stream ids differ between Redis and memory by clock and sequence: compare their milliseconds. */
const historyReply = (r: ScriptReply): ScriptReply => {
  const [id, ts, ...rest] = r as [string, string, ...ScriptReply[]];
  return [Number(String(id).split('-')[0]), Number(ts), ...rest];
};

const HISTORY_CASE: ScriptCase = {
  seeds: [21, 22],
  reaches: { new: 20, duplicate: 10, 'trimmed-then-new': 2, 'stale-index': 1, 'first-ts-kept': 2 },
  async sequence({ random, space, run, both, note }) {
    const rooms = [0, 1].map((i) => ({ stream: `${space}history:{r${i}}`, mids: `${space}history:{r${i}}:mids` }));
    const sent: { room: number; mid: string }[] = [];
    for (let step = 0; step < 150; step++) {
      const r = Math.floor(random() * rooms.length);
      const room = rooms[r]!;
      const cap = 1 + Math.floor(random() * 5);
      if (random() < 0.03) {
        // The stream removed behind the script's back: its mid index is stale.
        await both((e) => e.del([room.stream]));
        continue;
      }
      const previous = sent.filter((m) => m.room === r);
      // Mostly a recent mid (still in the stream), sometimes any (often trimmed away by now).
      const window = random() < 0.75 ? Math.min(previous.length, 3) : previous.length;
      const repeat = previous.length > 0 && random() < 0.35 ? previous[previous.length - 1 - Math.floor(random() * window)]! : undefined;
      const mid = repeat?.mid ?? `m${step}`;
      const ts = random() < 0.2 ? '1700000000123' : '';
      const knownBefore = await both(async (e) => (await e.hget(room.mids, mid)) !== null);
      const reply = (await run(HISTORY_APPEND, [room.stream, room.mids], [mid, cap, ts, `u${r}`, `body ${step} é`], { normalize: historyReply })) as ScriptReply[];
      const added = reply[4] === 1;
      if (!added) note('duplicate');
      else if (repeat && knownBefore) note('stale-index');
      else if (repeat) note('trimmed-then-new');
      else note('new');
      if (added && ts !== '' && reply[1] === ts) note('first-ts-kept');
      if (!repeat) sent.push({ room: r, mid });
    }
  },
  examples: {
    'history append stores a mid once and trims its index with the stream': async (e, k) => {
      const [stream, mids] = [k('history:{r}'), k('history:{r}:mids')];
      const first = (await e.runScript(HISTORY_APPEND, [stream, mids], ['a', 2, '', 'ann', 'hi'])) as [string, string, string, string, number];
      expect(first[4]).toBe(1);
      expect(await e.runScript(HISTORY_APPEND, [stream, mids], ['a', 2, '', 'eve', 'forged'])).toEqual([first[0], first[1], 'ann', 'hi', 0]);
      await e.runScript(HISTORY_APPEND, [stream, mids], ['b', 2, '1700000000123', 'bob', 'yo']);
      const third = (await e.runScript(HISTORY_APPEND, [stream, mids], ['c', 2, '', 'cy', 'hey'])) as ScriptReply[];
      expect(third[4]).toBe(1);
      expect((await e.xrange(stream, '-', '+')).map((x) => x.fields)).toEqual([
        { mid: 'b', ts: '1700000000123', from: 'bob', body: 'yo' },
        { mid: 'c', ts: third[1], from: 'cy', body: 'hey' },
      ]);
      expect(Object.keys(await e.hgetall(mids)).sort()).toEqual(['b', 'c']);
      // 'a' was trimmed away: appending it again stores it again.
      expect(((await e.runScript(HISTORY_APPEND, [stream, mids], ['a', 2, '', 'ann', 'hi'])) as ScriptReply[])[4]).toBe(1);
      expect(Object.keys(await e.hgetall(mids)).sort()).toEqual(['a', 'c']);
      // An index value naming another message's entry ('c', still kept; a stream deleted and written
      // again can give a new message an old id) does not make that message answer for this mid.
      await e.hset(mids, { d: third[0] as string });
      expect(((await e.runScript(HISTORY_APPEND, [stream, mids], ['d', 2, '', 'dee', 'mine'])) as ScriptReply[]).slice(2)).toEqual(['dee', 'mine', 1]);
    },
  },
};

/** Keyed by script name (every policy-count variant of the rate-limit check shares its name). */
export const SCRIPT_CASES: Readonly<Record<string, ScriptCase>> = {
  'lock-release': ENGINE_CASE,
  'lock-extend': ENGINE_CASE,
  'counter-incr': ENGINE_CASE,
  'cache-lock-fail': ENGINE_CASE,
  'session-create': SESSION_CASE,
  'session-touch': SESSION_CASE,
  'session-revoke': SESSION_CASE,
  'session-revoke-all': SESSION_CASE,
  'session-refresh': SESSION_CASE,
  'session-list': SESSION_CASE,
  'session-forget': SESSION_CASE,
  'session-count': SESSION_CASE,
  'denylist-add': SESSION_CASE,
  'rate-limit-check': RATE_LIMIT_CASE,
  'rate-limit-batch': RATE_LIMIT_BATCH_CASE,
  'cache-load-begin': CACHE_CASE,
  'cache-write': CACHE_CASE,
  'cache-tag-version': CACHE_CASE,
  'collection-write': COLLECTIONS_CASE,
  'presence-sync': PRESENCE_CASE,
  'presence-user': PRESENCE_CASE,
  'presence-status': PRESENCE_CASE,
  'history-append': HISTORY_CASE,
};

/** Every example of every case, once, for the engine contract suite. */
export function scriptExamples(): [string, NonNullable<ScriptCase['examples']>[string]][] {
  return [...new Set(Object.values(SCRIPT_CASES))].flatMap((c) => Object.entries(c.examples ?? {}));
}
