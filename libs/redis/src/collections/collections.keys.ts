import { encodeSegment } from '../cache/cache.keys.js';
import { escapeGlob } from '../engine/glob.util.js';
import { CollectionInputError } from './collections.errors.js';

/**
 * Key layout (logical keys; the engine adds `keyPrefix`):
 *   col:<tenant>:<kind>:{<tenant>/<name>}            the collection (hash, set, list, zset, counter)
 *   col:<tenant>:mape:{<tenant>/<name>}:<key>        one entry of a map with per-entry TTL
 *   col:<tenant>:migrate:{<tenant>/<name>}:<id>      a migration's checkpoint
 *   colw:<tenant>:<kind>:{<tenant>/<name>}           last-write marker of a map, set, leaderboard or list
 *                                                    ("<ms>:<writer>", see collection-write.lua)
 *   colt:{<tenant>}                                  when the tenant was last cleared ("<ms>:<writer>")
 * `<tenant>` is empty without a tenant. Tenant, name and entry key are percent-encoded by the
 * cache's rule (`encodeSegment`: only [A-Za-z0-9_.~%-] survive), so no identifier can contain `:`
 * (leave its segment), `{`/`}` (move its hash slot) or a glob character (widen a tenant's SCAN), and
 * `/` (the tenant/name joint inside the tag) is never produced by encoding. An encoded tenant is
 * never empty, so a tenant's keys never collide with the untenanted ones. Everything of one
 * collection shares one hash tag, so operations touching several of its keys run on Cluster.
 * Markers sit outside `col:` so that no walk of a collection or tenant (size, entries, clearTenant
 * counts) sees them, and a clear leaves them standing: they must outlive the data they guard.
 */
export type CollectionKind = 'map' | 'mape' | 'set' | 'ctr' | 'list' | 'lb' | 'migrate';

/** The kinds whose writes stamp a last-write marker (a map with or without per-entry TTL is `map`). */
export type MarkedKind = 'map' | 'set' | 'lb' | 'list';

const MARKED: Readonly<Record<string, MarkedKind>> = { map: 'map', mape: 'map', set: 'set', lb: 'lb', list: 'list' };
const KIND_NAMES: Readonly<Record<MarkedKind, string>> = { map: 'map', set: 'set', lb: 'leaderboard', list: 'list' };

/** Longer identifiers are refused rather than truncated: truncation would make two names collide. */
export const MAX_IDENTIFIER_LENGTH = 256;

export function checkIdentifier(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new CollectionInputError(`${what} must be a non-empty string (got ${typeof value === 'string' ? '""' : typeof value})`);
  }
  if (value.length > MAX_IDENTIFIER_LENGTH) throw new CollectionInputError(`${what} is ${value.length} characters long, over ${MAX_IDENTIFIER_LENGTH}`);
  // Lone surrogates have no UTF-8 form: two different names would be written as the same bytes.
  if (!wellFormed(value)) throw new CollectionInputError(`${what} is not well-formed unicode`);
  return value;
}

/** Keys of a map's entries: any non-empty string; numbers are written as their decimal text. */
export function checkEntryKey(key: unknown): string {
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  if (typeof key !== 'string' || key.length === 0) throw new CollectionInputError(`a collection key must be a non-empty string or a finite number (got ${typeof key === 'string' ? '""' : typeof key})`);
  if (!wellFormed(key)) throw new CollectionInputError('a collection key is not well-formed unicode');
  return key;
}

export class CollectionKeys {
  readonly tenant: string;
  private readonly tag: string;

  constructor(
    readonly name: string,
    tenant: string | undefined,
  ) {
    checkIdentifier(name, 'a collection name');
    this.tenant = tenant === undefined ? '' : encodeSegment(checkIdentifier(tenant, 'a tenant'));
    this.tag = `{${this.tenant}/${encodeSegment(name)}}`;
  }

  of(kind: CollectionKind): string {
    return `col:${this.tenant}:${kind}:${this.tag}`;
  }

  /** The last-write marker of this collection as a `kind` (same hash tag as its data). */
  marker(kind: MarkedKind): string {
    return `colw:${this.tenant}:${kind}:${this.tag}`;
  }

  /** `map "trips"`, with the tenant when there is one: for log lines and replay reports. */
  describe(kind: MarkedKind): string {
    const tenant = this.tenant === '' ? '' : ` of tenant ${JSON.stringify(decodeURIComponent(this.tenant))}`;
    return `${KIND_NAMES[kind]} ${JSON.stringify(this.name)}${tenant}`;
  }

  /** One entry of a map with per-entry TTL. */
  entry(key: string): string {
    return `${this.of('mape')}:${encodeSegment(key)}`;
  }

  /** SCAN pattern for every entry of a map with per-entry TTL. */
  entryPattern(): string {
    return `${escapeGlob(this.of('mape'))}:*`;
  }

  entryKeyOf(redisKey: string): string {
    return decodeURIComponent(redisKey.slice(this.of('mape').length + 1));
  }

  checkpoint(id: string): string {
    return `${this.of('migrate')}:${encodeSegment(checkIdentifier(id, 'a migration id'))}`;
  }
}

/**
 * The last-write marker guarding a logical key found by a tenant walk (`col:...`), or undefined for
 * keys no replay can write (counters, checkpoints).
 */
export function markerOfKey(key: string): string | undefined {
  const m = /^col:([^:]*):([a-z]+):(\{[^}]*\})/.exec(key);
  const kind = m && Object.hasOwn(MARKED, m[2]!) ? MARKED[m[2]!] : undefined;
  return kind === undefined ? undefined : `colw:${m![1]}:${kind}:${m![3]}`;
}

/**
 * When a tenant was last cleared. A collection created only during an outage has no marker for the
 * clear to stamp, so a replay checks this too before it writes into the tenant.
 */
export function tenantMarker(tenant: string): string {
  return `colt:{${tenant}}`;
}

/** SCAN pattern for every key of one tenant (or, with no tenant, of the untenanted collections). */
export function tenantPattern(tenant: string | undefined): string {
  const segment = tenant === undefined ? '' : encodeSegment(checkIdentifier(tenant, 'a tenant'));
  return `${escapeGlob(`col:${segment}:`)}*`;
}

// A lone UTF-16 surrogate (what String.prototype.isWellFormed rejects; not in this TypeScript lib).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = (text: string): boolean => !LONE_SURROGATE.test(text);
