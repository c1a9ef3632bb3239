import { RedisTimeoutError } from '../redis.errors.js';

interface Waiter {
  /** Loop-free milliseconds at which the waiter expires. */
  due: number;
  reject: (error: Error) => void;
}

// How often the loop-time clock ticks while something waits, and how late a tick may fire before
// the excess counts as a stall (time the loop could not have read a reply in).
const TICK_MS = 50;
const SLACK_MS = 25;

/**
 * A deadline measured in time the event loop was free to read replies. A process stalled by a
 * burst (its own CPU work, or a noisy machine) may find a reply that arrived during the stall in
 * its socket buffer: that reply is not late, and a wall-clock deadline would call it an outage.
 * One shared ticker for all waiters: each tick adds the time since the previous one, but never
 * more than one tick plus slack, so a stall does not count; waiters share one timeout, so insertion
 * order is expiry order.
 */
export class LoopTimeDeadline {
  private clock = 0;
  private last = 0;
  private timer?: NodeJS.Timeout;
  private readonly waiters = new Set<Waiter>();

  constructor(readonly timeoutMs: number) {}

  race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.timer) this.start();
      const waiter: Waiter = { due: this.clock + this.timeoutMs, reject };
      this.waiters.add(waiter);
      promise.then(
        (value) => {
          if (this.waiters.delete(waiter)) resolve(value);
        },
        (error: unknown) => {
          if (this.waiters.delete(waiter)) reject(error);
        },
      );
    });
  }

  private start(): void {
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  private tick(): void {
    const now = performance.now();
    this.clock += Math.min(now - this.last, TICK_MS + SLACK_MS);
    this.last = now;
    // A stalled tick is followed by this check in the timers phase, before the poll phase reads
    // the replies that came in during the stall: expiring now would call them late. Expire from
    // the check phase instead, after the poll phase had its turn.
    setImmediate(() => this.expire());
  }

  private expire(): void {
    for (const w of this.waiters) {
      if (w.due > this.clock) break;
      this.waiters.delete(w);
      w.reject(new RedisTimeoutError(this.timeoutMs));
    }
    if (this.waiters.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
