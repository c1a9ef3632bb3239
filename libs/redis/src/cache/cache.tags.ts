import { CACHE_TAG_VERSION } from '../engine/scripts/cache.scripts.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import type { Envelope } from './cache.envelope.js';
import { CacheInputError } from './cache.errors.js';
import { checkName, encodeSegment, newToken, tagKey } from './cache.keys.js';

/**
 * Tag versions of one namespace. Clock-free: a tag's version is a random token, bumped on
 * invalidation; a value records the versions it was loaded under and reads as a miss once any of
 * them changed. Versions are read with one MGET (slot-grouped on Cluster), so no script spans
 * keys of different slots.
 */
export class CacheTags {
  constructor(
    private readonly engine: StoreEngine,
    private readonly ns: string,
  ) {}

  /** Current versions of encoded tags; a missing version key reads as '' (matches no entry). */
  async currentVersions(encodedTags: readonly string[]): Promise<Map<string, string>> {
    const values = await this.engine.mget(encodedTags.map((t) => `cachetag:${this.ns}:${t}`));
    return new Map(encodedTags.map((t, i) => [t, values[i] ?? '']));
  }

  /**
   * The versions a value about to be loaded is recorded under, read BEFORE loading: if a tag is
   * invalidated while the loader runs, the value is written with the old version and never read.
   * A tag without a version key gets a random one, so a version key lost to eviction or `clear()`
   * invalidates its values rather than resurrecting them. Each version key is kept alive at least
   * `lifeMs` (the value's TTL plus grace; 0 = forever), so version keys of tags nobody writes any
   * more expire instead of piling up (one script per tag: tags live in different slots).
   */
  async writeVersions(tags: readonly string[], lifeMs: number): Promise<Array<[string, string]>> {
    return Promise.all(
      tags.map(async (t) => {
        const version = await this.engine.runScript(CACHE_TAG_VERSION, [tagKey(this.ns, t)], [newToken(), lifeMs > 0 ? Math.ceil(lifeMs) : 0]);
        return [encodeSegment(t), String(version)] as [string, string];
      }),
    );
  }

  /**
   * New versions: journaled by the fallback engine, so a bump made during an outage reaches Redis.
   * Any lifetime is safe for a bumped version (a missing version invalidates too); the next write
   * of a value with the tag extends it.
   */
  async bump(tags: readonly string[]): Promise<void> {
    await this.engine.mset(
      tags.map((t) => ({ key: tagKey(this.ns, t), value: newToken(), ttlMs: BUMPED_VERSION_TTL_MS })),
      { replayOnRecovery: true },
    );
  }
}

const BUMPED_VERSION_TTL_MS = 24 * 60 * 60_000;

export function tagsMatch(entry: Envelope, current: Map<string, string>): boolean {
  for (const [t, v] of entry.tags) if (current.get(t) !== v) return false;
  return true;
}

export function checkTags(tags: readonly string[] | undefined): string[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags)) throw new CacheInputError('tags must be an array of non-empty strings');
  return [...new Set(tags.map((t) => checkName(t, 'tag')))];
}
