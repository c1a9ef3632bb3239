import type { CacheCore } from './cache.core.js';
import { CorruptEntryError, decodeEnvelope, encodeEnvelope, type Envelope } from './cache.envelope.js';
import { CACHE_LOAD_BEGIN, CACHE_WRITE } from '../engine/scripts/cache.scripts.js';
import { BUS_CHANNEL } from './cache.invalidation-bus.js';
import type { L1Entry } from './cache.l1.js';
import { checkKey, encodeSegment, newToken, valueKey } from './cache.keys.js';
import { tagsMatch, type CacheTags } from './cache.tags.js';
import type { WriteOptions } from '../engine/store-engine.types.js';

/**
 * A value set while Redis is away replaces one on this instance only. Recovery deletes the key on
 * Redis rather than writing the value: the replaced value must not come back on other instances,
 * and a newer one they wrote meanwhile must not be overwritten; the next read goes to the source.
 */
export const REPLACED: WriteOptions = Object.freeze({ replayOnRecovery: true, replayAs: 'delete', capability: 'cache' });

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
   * grace) is returned as `stale` instead of a miss. L1 is filled only if no eviction of the key
   * arrived while Redis answered (see `InvalidationBus.mark`).
   */
  async read(full: string, allowStale: boolean): Promise<Found | null> {
    if (this.core.replaying) await this.core.replaying;
    const bus = this.core.bus;
    const l1 = bus.l1;
    const hit = this.fromL1(full);
    if (hit) return { state: 'hit', value: hit.value };
    const mark = bus.mark();
    let raw: string | null;
    try {
      raw = await this.core.engine.get(full);
    } catch (error) {
      // Something other than a string under our key (a hash, a list...): foreign, so a miss.
      if (error instanceof Error && /^WRONGTYPE/.test(error.message)) return this.discardCorrupt(full, new CorruptEntryError('not a string value'));
      throw error;
    }
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
    if (l1 && bus.mayFill(full, mark)) l1.set(full, entry.value, entry.expiresAt, entry.tags, now);
    return { state: 'hit', value: entry.value };
  }

  /**
   * The L1 copy, synchronously, or undefined: none, L1 off or not live (the bus may be missing
   * evictions), or an outage replay this instance's reads must wait for.
   */
  fromL1(full: string): L1Entry | undefined {
    const l1 = this.core.bus.l1;
    if (l1 === null || this.core.replaying) return undefined;
    const hit = l1.get(full, Date.now());
    if (hit !== undefined) this.core.counter(this.label).l1Hits++;
    return hit;
  }

  /**
   * Synchronous for plain entries (the hit path pays no extra promise), a promise only for
   * compressed ones. A load's marker reads as a miss; a corrupt or foreign value is counted,
   * deleted and read as a miss, whatever its bytes do to the decoder.
   */
  decode(full: string, raw: string): Envelope | null | Promise<Envelope | null> {
    if (raw.startsWith(LOAD_MARKER)) return null;
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
    const reason = error instanceof CorruptEntryError ? error.message : `decoder failed (${error instanceof Error ? error.name : typeof error})`;
    this.core.reportCorrupt(this.label, full, reason);
    await this.core.engine.del([full]).catch(() => undefined);
    return null;
  }

  /**
   * Stores a value; with L1 on, the write script also publishes the eviction (one round trip, and
   * other instances hear it only once the write is visible). `guard`: write only if the key still
   * holds what the loader staked before loading (see `stake`), so an invalidation made meanwhile
   * wins. `mark`: taken before the value was read or loaded, for the L1 fill check. Returns false
   * when the guard refused the write (nothing stored, L1 untouched).
   */
  async write(full: string, value: unknown, ttlMs: number, graceMs: number, tags: ReadonlyArray<readonly [string, string]>, guard?: Guard, mark?: number): Promise<boolean> {
    const bus = this.core.bus;
    const since = mark ?? bus.mark();
    const now = Date.now();
    const expiresAt = ttlMs > 0 ? now + ttlMs : 0;
    const raw = await encodeEnvelope(value, expiresAt, tags, this.core.options, full);
    const pttl = ttlMs > 0 ? ttlMs + graceMs : 0;
    const engine = this.core.engine;
    if (!guard && !bus.enabled) {
      // Redis only, nothing to guard: a plain SET is the whole write.
      await engine.set(full, raw, { ttlMs: pttl, ...REPLACED });
      this.noteOutage();
      return true;
    }
    const message = { n: this.ns, k: [this.keyOf(full)] };
    if (guard) {
      const reply = await engine.runScript(CACHE_WRITE, [full], [raw, pttl, guard.kind, guard.expected, bus.enabled ? bus.wire(message) : '', BUS_CHANNEL, full.length]);
      if (reply !== 1) return false;
    } else {
      await engine.set(full, raw, { ttlMs: pttl, publish: { channel: BUS_CHANNEL, message: bus.wire(message) }, ...REPLACED });
    }
    // Served by the fallback: the script's PUBLISH reached no other instance.
    if (bus.enabled && engine.mode() !== 'redis') bus.keepIfUndelivered(message);
    this.noteOutage();
    const l1 = bus.l1;
    if (l1 && bus.mayFill(full, since)) l1.set(full, value, expiresAt, tags, now);
    return true;
  }

  /**
   * A write served by the fallback is replayed as a delete of what Redis holds: if the journal
   * overflows, that delete may be lost, and the namespace is cleared on recovery instead.
   */
  noteOutage(): void {
    if (this.core.engine.mode() === 'fallback') this.core.outageNamespaces.add(this.ns);
  }

  /**
   * Stakes the key before a loader runs: a missing key gets this load's marker (alive for the
   * loader deadline), a present value is identified by its SHA1. The guarded write then succeeds
   * only if nothing (DEL, pattern, clear, another write) touched the key in between.
   */
  async stake(full: string, deadlineMs: number): Promise<Guard> {
    const marker = `${LOAD_MARKER}${newToken()}`;
    const reply = (await this.core.engine.runScript(CACHE_LOAD_BEGIN, [full], [marker, Math.max(1, Math.ceil(deadlineMs))])) as [number, string?];
    return reply[0] === 1 ? { kind: 'eq', expected: marker } : { kind: 'sha', expected: String(reply[1]) };
  }
}

/** What a guarded write expects the key to hold. */
export interface Guard {
  kind: 'eq' | 'sha';
  expected: string;
}

/** Prefix of the placeholder a load keeps under its key while the loader runs (reads as a miss). */
export const LOAD_MARKER = '~l|';
