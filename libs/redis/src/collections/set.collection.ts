import { checkEntryKey } from './collections.keys.js';
import type { CollectionContext } from './collections.policy.js';

/** A set of strings in one Redis set. Adds and removes are absolute, so they are replayed after an outage. */
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
    return this.ctx.engine.sadd(this.key, members.map(checkEntryKey), this.ctx.write());
  }

  /** Returns how many members were there. */
  async delete(...members: (string | number)[]): Promise<number> {
    return this.ctx.engine.srem(this.key, members.map(checkEntryKey), this.ctx.write());
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
    await this.ctx.engine.del([this.key], this.ctx.write());
  }
}
