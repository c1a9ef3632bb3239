import { decodeValue, encodeValue } from './collections.codec.js';
import { CollectionInputError } from './collections.errors.js';
import type { CollectionContext } from './collections.policy.js';

/**
 * A list of JSON values (newest first), optionally capped: each push trims it to the `cap` newest
 * entries in the same atomic step. Pushes are not idempotent (a replay would add the value again),
 * so they never answer from the fallback: during an outage they fail with `RedisUnavailableError`.
 * Reads follow the collection's policy; `remove` and `clear` are absolute and replayed.
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
    return this.ctx.engine.lpush(this.key, raws, { cap: this.cap, ...this.ctx.strict() });
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
    return this.ctx.engine.lrem(this.key, 0, await encodeValue(value), this.ctx.write());
  }

  async clear(): Promise<void> {
    await this.ctx.engine.del([this.key], this.ctx.write());
  }
}
