import { checkEntryKey } from './collections.keys.js';
import type { CollectionContext } from './collections.policy.js';

/**
 * A set of strings in one Redis set. Adds and removes are absolute, so they are replayed after an
 * outage, unless another instance wrote the set on Redis meanwhile (then theirs is kept).
 */
export class RedisSet {
  private readonly key: string;

  constructor(private readonly ctx: CollectionContext) {
    this.key = ctx.keys.of('set');
  }

  get name(): string {
    return this.ctx.name;
  }

  /** Returns how many members were new. */
  async add(...members: (string | number)[]): Promise<number> {
    const items = members.map(checkEntryKey);
    return items.length === 0 ? 0 : this.ctx.mutate({ kind: 'set', op: 'sadd', items });
  }

  /** Returns how many members were there. */
  async delete(...members: (string | number)[]): Promise<number> {
    const items = members.map(checkEntryKey);
    return items.length === 0 ? 0 : this.ctx.mutate({ kind: 'set', op: 'srem', items });
  }

  async has(member: string | number): Promise<boolean> {
    return this.ctx.engine.sismember(this.key, checkEntryKey(member), this.ctx.read());
  }

  members(): Promise<string[]> {
    return this.ctx.engine.smembers(this.key, this.ctx.read());
  }

  async size(): Promise<number> {
    return (await this.members()).length;
  }

  async clear(): Promise<void> {
    await this.ctx.mutate({ kind: 'set', op: 'del' });
  }
}
