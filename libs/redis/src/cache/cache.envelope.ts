import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import type { CacheCipher } from './cache.encryption.js';
import { CacheSerializationError, CacheValueTooLargeError, CorruptEntryError } from './cache.errors.js';

export { CorruptEntryError };

/**
 * What is stored under a cache key: `~c1|<flags>|<expiresAt>|<tags>|<payload>`.
 *
 * - `~c1` marks our format and its version: anything else under our key is foreign (a miss), and a
 *   future `~c2` makes old entries plain misses after a deploy instead of mis-decoded values.
 * - flags: `j` plain JSON or `t` type-tagged JSON, plus `z` when the payload is deflated + base64.
 * - expiresAt: logical expiry (ms since epoch on the writer's clock); empty for none. The physical
 *   TTL is longer by the grace period, so a stale value stays readable for stale-while-revalidate.
 * - tags: `tag=version,...` (tags percent-encoded): the tag versions read *before* the value was
 *   loaded. A reader compares them with the current versions: any difference means invalidated.
 *
 * Plain JSON is the fast path: a value with no Date/Map/Set/BigInt/Buffer/undefined/NaN is stored as
 * `JSON.stringify` output and read back with one `JSON.parse`, no reviver.
 */
export const ENVELOPE_MAGIC = '~c1|';

export interface Envelope {
  value: unknown;
  /** 0 = no logical expiry. */
  expiresAt: number;
  /** [encoded tag, version] pairs recorded at write time; empty when untagged. */
  tags: Array<[string, string]>;
}

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

export interface EncodeOptions {
  compressThreshold: number;
  maxValueBytes: number;
  /** `cache.encryption`: the whole envelope is sealed (cache.encryption.ts), bound to `cacheKey`. */
  encryption?: CacheCipher | null;
}

export async function encodeEnvelope(value: unknown, expiresAt: number, tags: ReadonlyArray<readonly [string, string]>, options: EncodeOptions, cacheKey = ''): Promise<string> {
  let flags: string;
  let payload: string;
  try {
    if (needsTypes(value, 0)) {
      flags = 't';
      payload = JSON.stringify(toTyped(value, 0));
    } else {
      flags = 'j';
      payload = JSON.stringify(value);
    }
  } catch (error) {
    if (error instanceof CacheSerializationError) throw error;
    throw new CacheSerializationError(`cache value cannot be serialized: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const bytes = utf8Length(payload, options.maxValueBytes);
  if (bytes > options.maxValueBytes) throw new CacheValueTooLargeError(bytes, options.maxValueBytes);
  if (options.compressThreshold > 0 && bytes > options.compressThreshold) {
    const packed = (await deflate(payload)).toString('base64');
    if (packed.length < payload.length) {
      flags += 'z';
      payload = packed;
    }
  }
  let tagText = '';
  for (let i = 0; i < tags.length; i++) tagText += (i === 0 ? '' : ',') + tags[i]![0] + '=' + tags[i]![1];
  const envelope = `${ENVELOPE_MAGIC}${flags}|${expiresAt > 0 ? expiresAt : ''}|${tagText}|${payload}`;
  return options.encryption ? options.encryption.seal(envelope, cacheKey) : envelope;
}


function split(raw: string): { flags: string; expiresAt: number; tags: Array<[string, string]>; payload: string } {
  if (!raw.startsWith(ENVELOPE_MAGIC)) throw new CorruptEntryError('not a cache envelope');
  const a = raw.indexOf('|', 4);
  const b = a < 0 ? -1 : raw.indexOf('|', a + 1);
  const c = b < 0 ? -1 : raw.indexOf('|', b + 1);
  if (c < 0) throw new CorruptEntryError('truncated envelope header');
  const flags = raw.slice(4, a);
  const exp = raw.slice(a + 1, b);
  const expiresAt = exp === '' ? 0 : Number(exp);
  if (!Number.isFinite(expiresAt)) throw new CorruptEntryError('bad expiry');
  const tags: Array<[string, string]> = [];
  if (c > b + 1) {
    for (const pair of raw.slice(b + 1, c).split(',')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new CorruptEntryError('bad tag list');
      tags.push([pair.slice(0, eq), pair.slice(eq + 1)]);
    }
  }
  return { flags, expiresAt, tags, payload: raw.slice(c + 1) };
}

/**
 * Synchronous unless the payload is compressed, so the hot read path adds no extra await. Stored
 * bytes are not trusted: inflating stops at `maxValueBytes` of output (a small entry cannot inflate
 * to gigabytes), and every way a value can be malformed surfaces as `CorruptEntryError`, never as
 * another exception. With `encryption`, the entry is opened (and authenticated) first.
 */
export function decodeEnvelope(raw: string, options?: EncodeOptions, cacheKey = ''): Envelope | Promise<Envelope> {
  if (options?.encryption) raw = options.encryption.open(raw, cacheKey, Math.ceil((options.maxValueBytes + 1_048_576) * (4 / 3)) + 128);
  else if (raw.startsWith('~e1|')) throw new CorruptEntryError('an encrypted entry, and cache.encryption is not configured');
  const parts = split(raw);
  if (parts.flags.endsWith('z')) {
    const packed = Buffer.from(parts.payload, 'base64');
    return inflate(packed, { maxOutputLength: Math.min(options?.maxValueBytes ?? Number.MAX_SAFE_INTEGER, MAX_INFLATE) }).then(
      (buffer) => finish(parts.flags.slice(0, -1), buffer.toString('utf8'), parts),
      (error: unknown) => {
        const tooLarge = (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError;
        throw new CorruptEntryError(tooLarge ? `compressed payload inflates past ${options?.maxValueBytes} bytes` : 'compressed payload does not inflate');
      },
    );
  }
  return finish(parts.flags, parts.payload, parts);
}

// zlib refuses a maxOutputLength above what one Buffer can hold.
const MAX_INFLATE = 2 ** 31 - 1;

function finish(flags: string, payload: string, parts: { expiresAt: number; tags: Array<[string, string]> }): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new CorruptEntryError('payload is not JSON');
  }
  if (flags === 't') {
    try {
      value = fromTyped(value);
    } catch (error) {
      // Wrong shapes under a type tag ({"$t":"M","v":1}), bad numbers, nesting past the stack.
      if (error instanceof CorruptEntryError) throw error;
      throw new CorruptEntryError(`type-tagged payload is malformed (${error instanceof Error ? error.name : 'error'})`);
    }
  } else if (flags !== 'j') throw new CorruptEntryError(`unknown flags ${JSON.stringify(flags)}`);
  return { value, expiresAt: parts.expiresAt, tags: parts.tags };
}

function utf8Length(text: string, limit: number): number {
  // UTF-8 needs at least one and at most three bytes per UTF-16 unit: skip the count when it cannot matter.
  if (text.length * 3 <= limit) return text.length;
  return Buffer.byteLength(text, 'utf8');
}

// ---- type tags ---------------------------------------------------------------------------------

const MAX_DEPTH = 512;
const TAG = '$t';

function tooDeep(): never {
  throw new CacheSerializationError(`cache value is nested deeper than ${MAX_DEPTH} levels (or is circular)`);
}

/** True when plain JSON would lose something (or misread an object that looks like our tags). */
function needsTypes(v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) tooDeep();
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return false;
    case 'number':
      return !Number.isFinite(v);
    case 'undefined':
    case 'bigint':
      return true;
    case 'function':
    case 'symbol':
      throw new CacheSerializationError(`cache values cannot hold a ${typeof v}`);
  }
  if (v === null) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsTypes(v[i], depth + 1)) return true;
    return false;
  }
  if (v instanceof Date || v instanceof Map || v instanceof Set || v instanceof Uint8Array) return true;
  const o = v as Record<string, unknown>;
  if (typeof (o as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
    if (k === TAG) return true;
    if (needsTypes(o[k], depth + 1)) return true;
  }
  return false;
}

function toTyped(v: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) tooDeep();
  switch (typeof v) {
    case 'undefined':
      return { $t: 'U' };
    case 'bigint':
      return { $t: 'B', v: v.toString() };
    case 'number':
      return Number.isFinite(v) ? v : { $t: 'N', v: String(v) };
    case 'string':
    case 'boolean':
      return v;
    case 'function':
    case 'symbol':
      throw new CacheSerializationError(`cache values cannot hold a ${typeof v}`);
  }
  if (v === null) return null;
  if (Array.isArray(v)) return v.map((x) => toTyped(x, depth + 1));
  if (v instanceof Date) return { $t: 'D', v: Number.isNaN(v.getTime()) ? null : v.getTime() };
  if (v instanceof Map) return { $t: 'M', v: [...v].map(([k, x]) => [toTyped(k, depth + 1), toTyped(x, depth + 1)]) };
  if (v instanceof Set) return { $t: 'S', v: [...v].map((x) => toTyped(x, depth + 1)) };
  if (v instanceof Uint8Array) return { $t: Buffer.isBuffer(v) ? 'X' : 'Y', v: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  const o = v as Record<string, unknown> & { toJSON?: () => unknown };
  if (typeof o.toJSON === 'function') return o.toJSON();
  const out: Record<string, unknown> = {};
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) out[k] = toTyped(o[k], depth + 1);
  // A user object that happens to have a `$t` key is wrapped, so it is never read as one of ours.
  return TAG in out ? { $t: 'O', v: out } : out;
}

function fromTyped(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(fromTyped);
  const o = v as Record<string, unknown>;
  const t = o[TAG];
  if (typeof t === 'string') {
    switch (t) {
      case 'U':
        return undefined;
      case 'B':
        return BigInt(o.v as string);
      case 'N':
        return Number(o.v);
      case 'D':
        return new Date(o.v === null ? Number.NaN : (o.v as number));
      case 'M':
        return new Map((o.v as [unknown, unknown][]).map(([k, x]) => [fromTyped(k), fromTyped(x)]));
      case 'S':
        return new Set((o.v as unknown[]).map(fromTyped));
      case 'X':
        return Buffer.from(o.v as string, 'base64');
      case 'Y':
        return new Uint8Array(Buffer.from(o.v as string, 'base64'));
      case 'O':
        return fromPlainObject(o.v as Record<string, unknown>);
      default:
        throw new CorruptEntryError(`unknown type tag ${JSON.stringify(t)}`);
    }
  }
  return fromPlainObject(o);
}

function fromPlainObject(o: Record<string, unknown>): Record<string, unknown> {
  for (const k in o) o[k] = fromTyped(o[k]);
  return o;
}
