import { toMs } from '../duration.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { COUNTER_INCR } from '../engine/scripts/engine.scripts.js';
import { CollectionInputError } from './collections.errors.js';
import { CollectionKeys } from './collections.keys.js';
import type { CounterOptions } from './collections.options.js';

const STRICT = { fallback: false } as const;

/**
 * An atomic integer counter, optionally reset by a fixed window (it lives `window` from its first
 * increment).
 *
 * Outage policy: counters fail closed. While Redis is away `incr`, `get` and `reset` reject with
 * `RedisUnavailableError`; nothing is kept in memory and nothing is replayed. Replaying an increment
 * cannot be made exactly-once by the breaker: a command that timed out may still have been applied
 * by Redis, and its replay would count it twice. A rejected `incr` after an open breaker was not
 * applied; one rejected because of a timeout (`cause` is `RedisTimeoutError`) has an unknown outcome,
 * as with any Redis client. With no Redis configured (embedded store) the counter works in memory.
 */
export class RedisCounter {
  private readonly key: string;
  private readonly windowMs: number;
  private readonly label: string;

  constructor(
    private readonly engine: StoreEngine,
    name: string,
    options: CounterOptions = {},
  ) {
    const keys = new CollectionKeys(name, options.tenant);
    this.key = keys.of('ctr');
    this.label = name;
    this.windowMs = options.window === undefined ? 0 : toMs(options.window, `the window of counter ${JSON.stringify(name)}`);
  }

  get name(): string {
    return this.label;
  }

  /** Adds `by` (an integer, may be negative) and returns the new value. */
  async incr(by = 1): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new CollectionInputError(`a counter increment must be a safe integer (got ${by})`);
    if (this.windowMs > 0) {
      const [value] = (await this.engine.runScript(COUNTER_INCR, [this.key], [by, this.windowMs], STRICT)) as [number, number];
      return Number(value);
    }
    return this.engine.incrBy(this.key, by, STRICT);
  }

  decr(by = 1): Promise<number> {
    return this.incr(-by);
  }

  async get(): Promise<number> {
    const raw = await this.engine.get(this.key, STRICT);
    return raw === null ? 0 : Number(raw);
  }

  /** Milliseconds until the window ends; -1 without a window, -2 before the first increment. */
  ttl(): Promise<number> {
    return this.engine.pttl(this.key, STRICT);
  }

  async reset(): Promise<void> {
    await this.engine.del([this.key], STRICT);
  }
}
