import type { ZEntry } from '../engine/store-engine.port.js';
import { CollectionInputError } from './collections.errors.js';
import { checkEntryKey } from './collections.keys.js';
import type { CollectionContext } from './collections.policy.js';

/** One member of a leaderboard with its score and its rank. */
export interface LeaderboardEntry {
  /** 1-based, highest score first; equal scores are ordered by member, as Redis orders them. */
  rank: number;
  member: string;
  score: number;
}

/**
 * A sorted set ranked highest score first. `add` writes absolute scores (replayed after an outage,
 * so a rebuild from a source of truth survives one, unless another instance wrote the board on
 * Redis meanwhile); `incr` is relative and fails closed while Redis is away, since a replayed
 * increment could count twice.
 */
export class RedisLeaderboard {
  private readonly key: string;

  constructor(private readonly ctx: CollectionContext) {
    this.key = ctx.keys.of('lb');
  }

  get name(): string {
    return this.ctx.name;
  }

  /** Sets absolute scores; returns how many members were new. */
  async add(entries: readonly ZEntry[] | Readonly<Record<string, number>>): Promise<number> {
    const list = Array.isArray(entries) ? (entries as readonly ZEntry[]) : Object.entries(entries).map(([member, score]) => ({ member, score }));
    for (const e of list) {
      checkEntryKey(e.member);
      if (!Number.isFinite(e.score)) throw new CollectionInputError(`a leaderboard score must be a finite number (got ${e.score})`);
    }
    if (list.length === 0) return 0;
    return this.ctx.mutate({ kind: 'lb', op: 'zadd', items: list.flatMap((e) => [String(e.score), e.member]) });
  }

  /** Adds `by` to a member's score (creating it at 0) and returns the new score. */
  async incr(member: string, by = 1): Promise<number> {
    if (!Number.isFinite(by)) throw new CollectionInputError(`a leaderboard increment must be a finite number (got ${by})`);
    return this.ctx.engine.zincrby(this.key, by, checkEntryKey(member), this.ctx.strict());
  }

  async score(member: string): Promise<number | null> {
    return this.ctx.engine.zscore(this.key, checkEntryKey(member), this.ctx.read());
  }

  /** 1-based rank, highest score first; null when the member is not on the board. */
  async rank(member: string): Promise<number | null> {
    const r = await this.ctx.engine.zrank(this.key, checkEntryKey(member), { reverse: true, ...this.ctx.read() });
    return r === null ? null : r + 1;
  }

  /** The `n` best. */
  async top(n: number): Promise<LeaderboardEntry[]> {
    if (n <= 0) return [];
    return ranked(await this.ctx.engine.zrange(this.key, 0, n - 1, { reverse: true, ...this.ctx.read() }), 0);
  }

  /** The member with up to `radius` neighbours above and below; empty when it is not on the board. */
  async around(member: string, radius = 2): Promise<LeaderboardEntry[]> {
    const r = await this.ctx.engine.zrank(this.key, checkEntryKey(member), { reverse: true, ...this.ctx.read() });
    if (r === null) return [];
    const from = Math.max(0, r - Math.max(0, radius));
    return ranked(await this.ctx.engine.zrange(this.key, from, r + Math.max(0, radius), { reverse: true, ...this.ctx.read() }), from);
  }

  size(): Promise<number> {
    return this.ctx.engine.zcard(this.key, this.ctx.read());
  }

  async remove(...members: string[]): Promise<number> {
    const items = members.map(checkEntryKey);
    return items.length === 0 ? 0 : this.ctx.mutate({ kind: 'lb', op: 'zrem', items });
  }

  async clear(): Promise<void> {
    await this.ctx.mutate({ kind: 'lb', op: 'del' });
  }
}

const ranked = (entries: ZEntry[], offset: number): LeaderboardEntry[] => entries.map((e, i) => ({ rank: offset + i + 1, member: e.member, score: e.score }));
