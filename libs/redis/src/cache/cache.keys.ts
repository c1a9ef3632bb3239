import { randomBytes } from 'node:crypto';
import { CacheInputError } from './cache.errors.js';

/**
 * Key layout (logical keys; the engine adds `keyPrefix`):
 *   cache:<ns>:<key>        values          (root namespace: ns is empty, `cache::<key>`)
 *   cachetag:<ns>:<tag>     tag versions
 *   cachelock:<ns>:<key>    stampede locks
 * Every user segment is percent-encoded down to [A-Za-z0-9_.~%-], so no name can contain `:`
 * (leave its segment), `{`/`}` (change the hash slot) or a glob character (widen a SCAN). Nested
 * namespaces join encoded segments with `/`, which encoding never produces.
 */
export function encodeSegment(text: string): string {
  // Fast path for the common identifier-like key: nothing to encode.
  if (SAFE.test(text)) return text;
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const SAFE = /^[A-Za-z0-9_.~-]*$/;

export function checkKey(key: unknown, what = 'key'): string {
  if (typeof key !== 'string' || key.length === 0) throw new CacheInputError(`${what} must be a non-empty string (got ${describe(key)})`);
  return key;
}

export function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new CacheInputError(`${what} must be a non-empty string (got ${describe(name)})`);
  return name;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}

export const valueKey = (ns: string, encodedKey: string): string => `cache:${ns}:${encodedKey}`;
export const tagKey = (ns: string, tag: string): string => `cachetag:${ns}:${encodeSegment(tag)}`;
export const lockKey = (ns: string, encodedKey: string): string => `cachelock:${ns}:${encodedKey}`;

/** A tag version or lock token: random, so no clock and no counter is shared between instances. */
export const newToken = (): string => randomBytes(9).toString('base64url');
