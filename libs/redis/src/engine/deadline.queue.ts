import { performance } from 'node:perf_hooks';
import { RedisTimeoutError } from '../redis.errors.js';

/** A clock source in milliseconds. Only its differences matter; it is meant to be monotonic. */
export type ClockSource = () => number;

export const monotonicClock: ClockSource = () => performance.now();

// A deadline timer firing later than this has been held up by the event loop, not by Redis.
const LAG_TOLERANCE_MS = 20;

/**
 * Time as deadlines see it: it advances with the clock source and never backwards (a source that
 * jumps back adds nothing, so no deadline stretches).
 */
export class DeadlineClock {
  private last: number;
  private elapsed = 0;

  constructor(private readonly source: ClockSource = monotonicClock) {
    this.last = source();
  }

  now(): number {
    const t = this.source();
    if (t > this.last) this.elapsed += t - this.last;
    this.last = t;
    return this.elapsed;
  }
}

interface Pending {
  at: number;
  reject: (error: Error) => void;
  prev?: Pending;
  next?: Pending;
  done: boolean;
}

/**
 * Puts the same deadline on many promises with one timer. Every entry has the same timeout, so
 * insertion order is deadline order: a linked list gives O(1) add and remove, and only the head
 * needs a timer. This keeps the hot path free of a setTimeout per Redis command.
 *
 * Deadlines run on a monotonic clock (`performance.now()` unless another source is given). A late
 * reply under event-loop lag is not a Redis failure: when the timer fires more than a few ms after
 * it was due, the loop was blocked, and replies that arrived meanwhile have not been read yet
 * (timers run before I/O in a loop turn). Then nothing expires on that turn: the check runs again
 * right after the loop has read its sockets (`setImmediate`), so a reply that was waiting in the
 * socket settles its command instead of timing it out.
 */
export class DeadlineQueue {
  private head?: Pending;
  private tail?: Pending;
  private timer?: NodeJS.Timeout;
  private recheck?: NodeJS.Immediate;
  private armedFor = 0;
  readonly clock: DeadlineClock;

  constructor(
    readonly timeoutMs: number,
    clock: ClockSource | DeadlineClock = monotonicClock,
  ) {
    this.clock = clock instanceof DeadlineClock ? clock : new DeadlineClock(clock);
  }

  /** Settles like `promise`, or rejects with `RedisTimeoutError` once the deadline passes. */
  race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const node: Pending = { at: this.clock.now() + this.timeoutMs, reject, done: false };
      this.append(node);
      promise.then(
        (value) => {
          if (this.settle(node)) resolve(value);
        },
        (error: unknown) => {
          if (this.settle(node)) reject(error);
        },
      );
    });
  }

  /** Rejects everything still pending (used on shutdown so nothing waits on a closed client). */
  rejectAll(error: Error): void {
    for (let n = this.head; n; n = n.next) n.done = true;
    const pending: Pending[] = [];
    for (let n = this.head; n; n = n.next) pending.push(n);
    this.head = this.tail = undefined;
    this.disarm();
    for (const n of pending) n.reject(error);
  }

  private append(node: Pending): void {
    if (this.tail) {
      this.tail.next = node;
      node.prev = this.tail;
      this.tail = node;
    } else {
      this.head = this.tail = node;
    }
    if (!this.timer && !this.recheck) this.arm(node.at);
  }

  private settle(node: Pending): boolean {
    if (node.done) return false;
    node.done = true;
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    if (!this.head) this.disarm();
    return true;
  }

  private arm(at: number): void {
    const now = this.clock.now();
    this.armedFor = Math.max(at, now);
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - now));
    // The deadline must not keep a process alive on its own.
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.recheck) clearImmediate(this.recheck);
    this.timer = this.recheck = undefined;
  }

  private expire(afterIo = false): void {
    this.timer = this.recheck = undefined;
    const now = this.clock.now();
    if (!afterIo && now - this.armedFor > LAG_TOLERANCE_MS) {
      // The loop was blocked: replies may be sitting unread in the socket. Look again once it is read.
      this.recheck = setImmediate(() => this.expire(true));
      this.recheck.unref();
      return;
    }
    while (this.head && this.head.at <= now) {
      const node = this.head;
      this.settle(node);
      node.reject(new RedisTimeoutError(this.timeoutMs));
    }
    // The head may have been settled early and replaced by a later one: re-arm for it.
    if (this.head) this.arm(this.head.at);
  }
}
