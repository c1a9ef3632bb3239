import { RedisTimeoutError } from '../redis.errors.js';

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
 */
export class DeadlineQueue {
  private head?: Pending;
  private tail?: Pending;
  private timer?: NodeJS.Timeout;

  constructor(readonly timeoutMs: number) {}

  /** Settles like `promise`, or rejects with `RedisTimeoutError` once the deadline passes. */
  race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const node: Pending = { at: Date.now() + this.timeoutMs, reject, done: false };
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
    if (!this.timer) this.arm(node.at);
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
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
    // The deadline must not keep a process alive on its own.
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.head && this.head.at <= now) {
      const node = this.head;
      this.settle(node);
      node.reject(new RedisTimeoutError(this.timeoutMs));
    }
    // The head may have been settled early and replaced by a later one: re-arm for it.
    if (this.head) this.arm(this.head.at);
  }
}
