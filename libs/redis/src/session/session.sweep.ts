import { escapeGlob } from '../engine/glob.util.js';
import type { SessionContext } from './session.context.js';
import type { SessionSecret } from './session.secret.js';
import { groupLiveKey, SESSION_GROUPS } from './session.tokens.js';

const SWEEP_BATCH = 50;
export const SWEEP_KEYS_PER_TICK = 200;
const GROUPS_PER_SWEEP = 64;
/** Every user's index key; stats() scans it too. */
export const INDEX_PATTERN = `${escapeGlob('sess:{s:')}*${escapeGlob('}:')}*${escapeGlob(':idx')}`;

/**
 * The background sweep: prunes ended entries from user indexes and trims the groups' live sets,
 * a bounded step per tick, resuming its SCAN where the last step stopped. Started by the first
 * session operation, so an app that never uses sessions runs no timer.
 */
export class SessionSweep {
  private timer?: NodeJS.Timeout;
  private cursor?: AsyncIterator<string[]>;
  private group = 0;
  private sweeping = false;
  private closed = false;

  constructor(
    private readonly ctx: SessionContext,
    private readonly secret: SessionSecret,
  ) {}

  start(): void {
    if (this.timer || this.closed || this.ctx.options.sweepIntervalMs === 0) return;
    this.timer = setInterval(() => void this.step(), this.ctx.options.sweepIntervalMs);
    this.timer.unref();
  }

  /** Stops for good: a closed service starts no new sweep either. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    void this.cursor?.return?.();
    this.cursor = undefined;
  }

  async step(maxKeys = SWEEP_KEYS_PER_TICK): Promise<number> {
    if (this.sweeping || this.closed) return 0;
    this.sweeping = true;
    let removed = 0;
    try {
      const engine = this.ctx.store.engine;
      await this.secret.keep();
      const now = await engine.time();
      for (let i = 0; i < GROUPS_PER_SWEEP && !this.closed; i++) {
        await engine.zremRangeByScore(groupLiveKey(this.group), -Infinity, now);
        this.group = (this.group + 1) % SESSION_GROUPS;
      }
      this.cursor ??= engine.scan(INDEX_PATTERN, { count: SWEEP_BATCH })[Symbol.asyncIterator]();
      let visited = 0;
      while (visited < maxKeys && !this.closed) {
        const step = await this.cursor.next();
        if (step.done) {
          this.cursor = undefined;
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
      this.cursor = undefined;
    } finally {
      this.sweeping = false;
    }
    this.ctx.counters.swept += removed;
    return removed;
  }
}
