import { decodeValue, encodeValue } from './collections.codec.js';
import { CollectionInputError } from './collections.errors.js';
import type { CollectionContext } from './collections.policy.js';

/**
 * A list of JSON values (newest first), optionally capped: each push trims it to the `cap` newest
 * entries in the same atomic step. Pushes are not idempotent (a replay would add the value again),
 * so they never answer from the fallback: during an outage they fail with `RedisUnavailableError`.
 * Reads follow the collection's policy; `remove` and `clear` are absolute and replayed, unless
 * another instance wrote the list on Redis since the outage began (then theirs is kept).
 */
export class RedisList<V = unknown> {
  private readonly key: string;

  constructor(
    private readonly ctx: CollectionContext,
    readonly cap?: number,
  ) {
    if (cap !== undefined && (!Number.isSafeInteger(cap) || cap < 1)) throw new CollectionInputError(`the cap of list ${JSON.stringify(ctx.name)} must be a positive integer (got ${cap})`);
    this.key = ctx.keys.of('list');
  }

  get name(): string {
    return this.ctx.name;
  }

  /** Adds values at the head (the last one given ends up first); returns the length after the cap. */
  async push(...values: V[]): Promise<number> {
    const raws = await Promise.all(values.map((v) => encodeValue(v)));
    if (raws.length === 0) return this.ctx.engine.llen(this.key, this.ctx.strict());
    // Stamps the list's marker too: a removal or clear made elsewhere during an outage must not
    // replay over this push.
    return this.ctx.mutate({ kind: 'list', op: 'lpush', items: raws, ttlMs: this.cap ?? 0, strict: true });
  }

  /** Entries `start..stop` (inclusive, negative from the end), newest first. */
  async range(start = 0, stop = -1): Promise<V[]> {
    const raws = await this.ctx.engine.lrange(this.key, start, stop, this.ctx.read());
    return Promise.all(raws.map((raw, i) => decodeValue<V>(raw, this.name, `#${start + i}`)));
  }

  /** The `n` newest entries. */
  recent(n: number): Promise<V[]> {
    return n <= 0 ? Promise.resolve([]) : this.range(0, n - 1);
  }

  length(): Promise<number> {
    return this.ctx.engine.llen(this.key, this.ctx.read());
  }

  /** Removes every entry equal to `value` (compared in its stored form); returns how many. */
  async remove(value: V): Promise<number> {
    return this.ctx.mutate({ kind: 'list', op: 'lrem', items: [await encodeValue(value)] });
  }

  async clear(): Promise<void> {
    await this.ctx.mutate({ kind: 'list', op: 'del' });
  }
}
