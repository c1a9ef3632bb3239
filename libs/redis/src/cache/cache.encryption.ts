import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { CorruptEntryError } from './cache.errors.js';

/** One AES-256 key: `id` is written in clear next to each value so the right key is found on read. */
export interface CacheEncryptionKey {
  /** 1-32 characters of letters, digits, `.`, `_`, `-`; never reuse an id for another secret. */
  id: string;
  /** Exactly 32 random bytes: a Buffer, 64 hex characters, or base64 (`openssl rand -base64 32`). */
  secret: string | Buffer;
}

/**
 * `cache.encryption`: values are sealed with AES-256-GCM under the FIRST key; every listed key can
 * still open what it sealed, so a rotation is: add the new key first, deploy, wait one cache TTL,
 * remove the old one.
 */
export interface CacheEncryptionOptions {
  keys: CacheEncryptionKey[];
}

export const ENCRYPTED_MAGIC = '~e1|';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ID_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;

// Random IVs drawn from a pool: one randomBytes call per 12-byte IV costs more than the encryption
// itself; filling 1024 IVs at a time gives the same random 96-bit IVs for a fraction of the cost.
const IV_POOL_SIZE = IV_BYTES * 1024;
let ivPool = Buffer.alloc(0);
let ivOffset = IV_POOL_SIZE;
function nextIv(): Buffer {
  if (ivOffset + IV_BYTES > ivPool.length) {
    ivPool = randomFillSync(Buffer.allocUnsafe(IV_POOL_SIZE));
    ivOffset = 0;
  }
  // A copy: the pool is refilled later, and an IV is never used twice.
  const iv = Buffer.from(ivPool.subarray(ivOffset, ivOffset + IV_BYTES));
  ivOffset += IV_BYTES;
  return iv;
}

function secretBytes(secret: unknown, what: string, problems: string[]): Buffer | undefined {
  // The secret itself never appears in a message, only its shape.
  if (Buffer.isBuffer(secret)) {
    if (secret.length === 32) return Buffer.from(secret);
    problems.push(`${what} must be exactly 32 bytes (got a Buffer of ${secret.length})`);
    return undefined;
  }
  if (typeof secret !== 'string') {
    problems.push(`${what} must be a string (64 hex characters or base64 of 32 bytes) or a 32-byte Buffer (got ${secret === null ? 'null' : typeof secret})`);
    return undefined;
  }
  if (/^[0-9a-fA-F]{64}$/.test(secret)) return Buffer.from(secret, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}$/.test(secret)) {
    const bytes = Buffer.from(secret, secret.includes('-') || secret.includes('_') ? 'base64url' : 'base64');
    if (bytes.length === 32) return bytes;
  }
  problems.push(`${what} must be 32 random bytes written as 64 hex characters or as base64 (e.g. the output of \`openssl rand -base64 32\`); got ${secret.length} characters that are neither (a passphrase is not a key)`);
  return undefined;
}

/** Validates `cache.encryption`; problems name the option, never the secret. */
export function resolveCacheEncryption(options: CacheEncryptionOptions | undefined, problems: string[]): CacheCipher | null {
  if (options === undefined) return null;
  if (!options || typeof options !== 'object' || !Array.isArray(options.keys) || options.keys.length === 0) {
    problems.push('cache.encryption must be { keys: [{ id, secret }, ...] } with at least one key (the first one encrypts)');
    return null;
  }
  const keys = new Map<string, Buffer>();
  options.keys.forEach((key, i) => {
    const what = `cache.encryption.keys[${i}]`;
    if (!key || typeof key !== 'object') {
      problems.push(`${what} must be { id, secret }`);
      return;
    }
    if (typeof key.id !== 'string' || !ID_PATTERN.test(key.id)) problems.push(`${what}.id must be 1-32 letters, digits, '.', '_' or '-' (got ${JSON.stringify(key.id)})`);
    else if (keys.has(key.id)) problems.push(`${what}.id "${key.id}" is listed twice: each key needs its own id`);
    const bytes = secretBytes(key.secret, `${what}.secret`, problems);
    if (bytes && typeof key.id === 'string' && ID_PATTERN.test(key.id) && !keys.has(key.id)) {
      for (const [otherId, other] of keys) if (other.equals(bytes)) problems.push(`${what}.secret is the same as key "${otherId}": a rotation needs a new secret`);
      keys.set(key.id, bytes);
    }
  });
  if (keys.size !== options.keys.length) return null;
  return new CacheCipher([...keys]);
}

/**
 * Seals and opens cache envelopes: `~e1|<key id>|<base64 of iv(12) + tag(16) + ciphertext>`. The key id
 * and the cache key are authenticated data, so an entry copied under another key, or relabelled with
 * another key id, fails like tampered bytes. Opening never throws anything but `CorruptEntryError`.
 */
export class CacheCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly writeId: string;
  private readonly writeKey: Buffer;

  constructor(keys: Array<[string, Buffer]>) {
    this.keys = new Map(keys);
    [this.writeId, this.writeKey] = keys[0]!;
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  seal(plaintext: string, cacheKey: string): string {
    const iv = nextIv();
    const cipher = createCipheriv('aes-256-gcm', this.writeKey, iv);
    cipher.setAAD(Buffer.from(`${this.writeId}|${cacheKey}`, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${ENCRYPTED_MAGIC}${this.writeId}|${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** The plaintext envelope; `maxChars` bounds what is decoded at all (a huge foreign value is refused unread). */
  open(raw: string, cacheKey: string, maxChars: number): string {
    if (!raw.startsWith(ENCRYPTED_MAGIC)) throw new CorruptEntryError('a plain (unencrypted) entry while cache.encryption is on');
    if (raw.length > maxChars) throw new CorruptEntryError('encrypted entry larger than cache.maxValueBytes allows');
    const bar = raw.indexOf('|', ENCRYPTED_MAGIC.length);
    if (bar < 0) throw new CorruptEntryError('truncated encrypted entry');
    const id = raw.slice(ENCRYPTED_MAGIC.length, bar);
    const key = this.keys.get(id);
    if (!key) throw new CorruptEntryError(`encrypted with key id ${JSON.stringify(id.slice(0, 32))}, which is not in cache.encryption.keys`);
    const bytes = Buffer.from(raw.slice(bar + 1), 'base64');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new CorruptEntryError('truncated encrypted entry');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`${id}|${cacheKey}`, 'utf8'));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new CorruptEntryError(`encrypted entry does not authenticate under key ${JSON.stringify(id)} (tampered, truncated, or moved from another key)`);
    }
  }
}
