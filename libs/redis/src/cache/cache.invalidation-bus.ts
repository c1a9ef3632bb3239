import { randomBytes } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import type { StoreEngine, Unsubscribe } from '../engine/store-engine.port.js';
import type { L1Cache } from './cache.l1.js';

interface BusMessage {
  /** Sender instance. */
  o: string;
  /** Encoded namespace. */
  n: string;
  /** Encoded keys to drop. */
  k?: string[];
  /** Encoded tags whose values to drop. */
  t?: string[];
  /** Drop the whole namespace. */
  a?: 1;
  /** Drop every L1 copy (too many messages were lost to list them). */
  x?: 1;
}

/** What to drop from L1: a namespace plus keys, tags, or all of it. */
export type Eviction = Omit<BusMessage, 'o'>;

export const BUS_CHANNEL = 'cache:bus';
const UNDELIVERED_LIMIT = 1_000;
// Keys remembered with the sequence number of their last eviction; past this, one wide mark.
const KEY_MARKS_LIMIT = 10_000;

/**
 * The in-process tier and the pub/sub channel that keeps it honest: every invalidation drops the
 * local copies and is published so other instances drop theirs. The tier lives only as long as
 * the bus can receive, or this instance would serve what another one invalidated.
 */
export class InvalidationBus {
  readonly instanceId = randomBytes(8).toString('hex');
  private readonly ownPrefix = `{"o":"${this.instanceId}"`;
  /** Turned off (null) for good when the bus cannot subscribe. */
  private tier: L1Cache | null;
  /** False while the subscription may be missing messages: L1 is neither read nor filled then. */
  private live = true;
  /**
   * Eviction sequence: every eviction seen (local or from the bus) takes the next number. A read or
   * load takes `mark()` before asking Redis and may fill L1 only if no eviction of its key (nor a
   * wider one) arrived since: the reply and the eviction travel on different connections, so the
   * reply can carry a value older than an eviction already processed.
   */
  private seq = 0;
  private wideSeq = 0;
  private readonly keySeq = new Map<string, number>();
  private unsubscribe?: Unsubscribe;
  private subscribed?: Promise<void>;
  private closed = false;
  /**
   * Messages published while Redis was away only reached this process; they are sent again once it
   * is back (after the journal replay), so other instances drop L1 copies invalidated meanwhile.
   */
  private readonly undelivered: Eviction[] = [];
  private undeliveredOverflow = false;

  constructor(
    private readonly engine: StoreEngine,
    l1: L1Cache | null,
    private readonly logger: Logger,
  ) {
    this.tier = l1;
  }

  /** The tier to read and fill, or null while off or while the bus may be missing evictions. */
  get l1(): L1Cache | null {
    return this.live ? this.tier : null;
  }

  /** True when L1 is configured (and subscribed): writes then publish evictions. */
  get enabled(): boolean {
    return this.tier !== null;
  }

  mark(): number {
    return this.seq;
  }

  /** True when no eviction of `full` (nor a wider one) was seen since `mark`, and none can be missed. */
  mayFill(full: string, mark: number): boolean {
    return this.live && this.wideSeq <= mark && (this.keySeq.get(full) ?? 0) <= mark;
  }

  start(): Promise<void> {
    if (!this.tier) return Promise.resolve();
    this.subscribed ??= this.engine
      .subscribe(BUS_CHANNEL, (message) => this.receive(message), { onState: (live) => this.onState(live) })
      .then((off) => {
        if (this.closed) return void off();
        this.unsubscribe = off;
      })
      .catch((error: unknown) => {
        this.logger.warn(`The L1 invalidation bus could not subscribe (${error instanceof Error ? error.message : String(error)}); L1 is turned off`);
        this.tier?.clear();
        this.tier = null;
      });
    return this.subscribed;
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.subscribed;
    await this.unsubscribe?.().catch(() => undefined);
  }

  publish(message: Eviction): Promise<void> | undefined {
    if (!this.tier) return undefined;
    return this.engine.publish(BUS_CHANNEL, this.wire(message)).then(
      () => this.keepIfUndelivered(message),
      () => this.keepIfUndelivered(message),
    );
  }

  /** The message as published, for a write script that publishes it itself. */
  wire(message: Eviction): string {
    // The sender first, so `receive` can drop this instance's own messages without parsing them.
    return JSON.stringify({ o: this.instanceId, ...message });
  }

  /** A message that may not have reached Redis (served by the fallback) is kept for redelivery. */
  keepIfUndelivered(message: Eviction): void {
    if (this.engine.mode() !== 'fallback') return;
    if (this.undelivered.length < UNDELIVERED_LIMIT) this.undelivered.push(message);
    else this.undeliveredOverflow = true;
  }

  async redeliver(): Promise<void> {
    const messages = this.undeliveredOverflow ? [{ n: '', x: 1 as const }] : this.undelivered.splice(0);
    this.undelivered.length = 0;
    this.undeliveredOverflow = false;
    for (const m of messages) await this.publish(m);
  }

  /**
   * The subscription dropped (evictions may be lost from now on) or is back (those published in
   * between are lost): either way nothing in L1 can be vouched for, and loads in flight must not
   * fill it. While not live L1 is bypassed entirely.
   */
  private onState(live: boolean): void {
    this.live = live;
    this.wideSeq = ++this.seq;
    this.keySeq.clear();
    this.tier?.clear();
  }

  /** Drops local copies; `ns` plus keys, tags, or the whole namespace. */
  evict(message: Eviction): void {
    const l1 = this.tier;
    if (!l1) return;
    const base = `cache:${message.n}:`;
    const seq = ++this.seq;
    if (message.x || message.a || (message.t && message.t.length > 0)) this.wideSeq = seq;
    if (message.x) return l1.clear();
    if (message.a) l1.deleteWhere(base);
    for (const k of message.k ?? []) {
      l1.delete(base + k);
      this.keySeq.set(base + k, seq);
    }
    if (this.keySeq.size > KEY_MARKS_LIMIT) {
      this.keySeq.clear();
      this.wideSeq = seq;
    }
    if (message.t && message.t.length > 0) {
      const tags = new Set(message.t);
      l1.deleteWhere(base, (_key, entry) => entry.tags.some(([t]) => tags.has(t)));
    }
  }

  private receive(raw: string): void {
    if (raw.startsWith(this.ownPrefix)) return;
    let message: BusMessage;
    try {
      message = JSON.parse(raw) as BusMessage;
    } catch {
      return;
    }
    if (!message || typeof message.n !== 'string' || message.o === this.instanceId) return;
    this.evict(message);
  }
}
