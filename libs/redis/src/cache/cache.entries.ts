import type { CacheCore } from './cache.core.js';
import { CorruptEntryError, decodeEnvelope, encodeEnvelope, type Envelope } from './cache.envelope.js';
import { checkKey, encodeSegment, valueKey } from './cache.keys.js';
import { tagsMatch, type CacheTags } from './cache.tags.js';

export interface Found {
  state: 'hit' | 'stale';
  value: unknown;
}

/**
 * One namespace's values as stored: read through L1, then the engine (decode, tag check, expiry);
 * written to both and announced on the bus so other instances drop their L1 copies.
 */
export class CacheEntries {
  /** Every value key of this namespace starts with it. */
  private readonly base: string;

  constructor(
    private readonly core: CacheCore,
    private readonly ns: string,
    private readonly label: string,
    private readonly tags: CacheTags,
  ) {
    this.base = valueKey(ns, '');
  }

  fullKey(key: string): string {
    return valueKey(this.ns, encodeSegment(checkKey(key)));
  }

  /** The encoded key inside a full key: what bus messages and lock keys carry. */
  keyOf(full: string): string {
    return full.slice(this.base.length);
  }

  /**
   * L1, then the engine. `allowStale`: an entry past its logical expiry (still stored because of
   * grace) is returned as `stale` instead of a miss.
   */
  async read(full: string, allowStale: boolean): Promise<Found | null> {
    if (this.core.replaying) await this.core.replaying;
    const l1 = this.core.l1;
    if (l1) {
      const now = Date.now();
      const hit = l1.get(full, now);
      if (hit) {
        this.core.counter(this.label).l1Hits++;
        return { state: 'hit', value: hit.value };
      }
    }
    const raw = await this.core.engine.get(full);
    if (raw === null) return null;
    const decoded = this.decode(full, raw);
    const entry = decoded !== null && 'then' in decoded ? await decoded : decoded;
    if (!entry) return null;
    if (entry.tags.length > 0) {
      const current = await this.tags.currentVersions(entry.tags.map(([t]) => t));
      if (!tagsMatch(entry, current)) return null;
    }
    const now = Date.now();
    if (entry.expiresAt !== 0 && now >= entry.expiresAt) return allowStale ? { state: 'stale', value: entry.value } : null;
    l1?.set(full, entry.value, entry.expiresAt, entry.tags, now);
    return { state: 'hit', value: entry.value };
  }

  /**
   * Synchronous for plain entries (the hit path pays no extra promise), a promise only for
   * compressed ones. A corrupt or foreign value is counted, deleted and read as a miss.
   */
  decode(full: string, raw: string): Envelope | null | Promise<Envelope | null> {
    try {
      const decoded = decodeEnvelope(raw, this.core.options, full);
      // Duck-typed: zlib's promises may come from another realm (e.g. under jest's VM modules).
      if (!('then' in decoded)) return decoded;
      return Promise.resolve(decoded).then(
        (entry) => entry,
        (error: unknown) => this.discardCorrupt(full, error),
      );
    } catch (error) {
      return this.discardCorrupt(full, error);
    }
  }

  private async discardCorrupt(full: string, error: unknown): Promise<null> {
    if (!(error instanceof CorruptEntryError) && !(error instanceof SyntaxError) && !(error instanceof RangeError)) throw error;
    this.core.reportCorrupt(this.label, full, error.message);
    // Only delete what we read: a fresh value written meanwhile must survive.
    await this.core.engine.del([full]).catch(() => undefined);
    return null;
  }

  async write(full: string, value: unknown, ttlMs: number, graceMs: number, tags: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const now = Date.now();
    const expiresAt = ttlMs > 0 ? now + ttlMs : 0;
    const raw = await encodeEnvelope(value, expiresAt, tags, this.core.options, full);
    await this.core.engine.set(full, raw, { ttlMs: ttlMs > 0 ? ttlMs + graceMs : 0 });
    this.core.l1?.set(full, value, expiresAt, tags, now);
    await this.core.bus.publish({ n: this.ns, k: [this.keyOf(full)] });
  }
}
