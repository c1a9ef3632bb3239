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

const BUS_CHANNEL = 'cache:bus';
const UNDELIVERED_LIMIT = 1_000;

/**
 * The in-process tier and the pub/sub channel that keeps it honest: every invalidation drops the
 * local copies and is published so other instances drop theirs. The tier lives only as long as
 * the bus can receive, or this instance would serve what another one invalidated.
 */
export class InvalidationBus {
  private readonly instanceId = randomBytes(8).toString('hex');
  /** Turned off (null) for good when the bus cannot subscribe. */
  private tier: L1Cache | null;
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

  get l1(): L1Cache | null {
    return this.tier;
  }

  start(): Promise<void> {
    if (!this.tier) return Promise.resolve();
    this.subscribed ??= this.engine
      .subscribe(BUS_CHANNEL, (message) => this.receive(message))
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
    return this.engine.publish(BUS_CHANNEL, JSON.stringify({ ...message, o: this.instanceId })).then(
      () => this.keepIfUndelivered(message),
      () => this.keepIfUndelivered(message),
    );
  }

  private keepIfUndelivered(message: Eviction): void {
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

  /** Drops local copies; `ns` plus keys, tags, or the whole namespace. */
  evict(message: Eviction): void {
    const l1 = this.tier;
    if (!l1) return;
    const base = `cache:${message.n}:`;
    if (message.x) return l1.clear();
    if (message.a) l1.deleteWhere(base);
    for (const k of message.k ?? []) l1.delete(base + k);
    if (message.t && message.t.length > 0) {
      const tags = new Set(message.t);
      l1.deleteWhere(base, (_key, entry) => entry.tags.some(([t]) => tags.has(t)));
    }
  }

  private receive(raw: string): void {
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
