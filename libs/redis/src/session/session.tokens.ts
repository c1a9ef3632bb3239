import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { SessionInputError } from './session.errors.js';

/**
 * Session ids and refresh tokens are `<user tag>.<secret>`. The secret part (256 bits from the
 * CSPRNG) is the credential; Redis only ever holds its SHA-256. The user tag (128 bits of
 * HMAC-SHA256(session secret, user id)) routes to the user's keys without a global lookup and
 * reveals nothing about the user to whoever sees the id: without the server's secret it cannot be
 * linked to a user id, let alone decoded into one (OWASP Session Management Cheat Sheet: the id
 * must be meaningless).
 *
 * Keys: `sess:{s:<group>}:<tag>:` is a user's base. The hash tag is the user's group (one of
 * 1024, from the tag), so every key of a user, and the group's live set that keeps the active
 * session count, share one Cluster slot and one script can update them together.
 */

export const MAX_USER_ID_LENGTH = 256;
const SECRET_BYTES = 32;
const TAG_BYTES = 16;
/** Groups of users sharing a hash tag and a live-session set; fixed forever (it is part of every key). */
export const SESSION_GROUPS = 1024;
// Control characters (C0, DEL, C1) would end up in logs and admin views the app renders.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export function checkUserId(userId: unknown, what = 'userId'): string {
  if (typeof userId !== 'string' || userId.length === 0) throw new SessionInputError(`${what} must be a non-empty string`);
  if (userId.length > MAX_USER_ID_LENGTH) throw new SessionInputError(`${what} must be at most ${MAX_USER_ID_LENGTH} characters (got ${userId.length})`);
  if (CONTROL.test(userId)) throw new SessionInputError(`${what} must not contain control characters`);
  if (LONE_SURROGATE.test(userId)) throw new SessionInputError(`${what} must be well-formed Unicode`);
  return userId;
}

/** The user's routing tag: a keyed hash of the user id, meaningless without the session secret. */
export function userTag(secret: Buffer, userId: string): string {
  return createHmac('sha256', secret).update('nrk-session-user\u0000').update(userId, 'utf8').digest().subarray(0, TAG_BYTES).toString('base64url');
}

/** A keyed hash of a client IP (`session.hashIp`): equal IPs compare equal, the IP cannot be read back. */
export function ipDigest(secret: Buffer, ip: string): string {
  return `hmac:${createHmac('sha256', secret).update('nrk-session-ip\u0000').update(ip, 'utf8').digest().subarray(0, 16).toString('base64url')}`;
}

export const groupOf = (tag: string): number => {
  const bytes = Buffer.from(tag, 'base64url');
  return ((bytes[0]! << 8) | bytes[1]!) % SESSION_GROUPS;
};

/** The live set of group `group` (its hash tag is the group's). */
export const groupLiveKey = (group: number): string => `sess:{s:${group}}:live`;

/** Every key of one user, as the scripts receive them. */
export interface UserKeys {
  readonly tag: string;
  /** `sess:{s:<group>}:<tag>:`, the prefix of all the user's keys. */
  readonly base: string;
  readonly idx: string;
  readonly live: string;
  /** The user's revocation epoch (set by revokeAll, checked by a replayed create). */
  readonly epoch: string;
  session(hash: string): string;
  refresh(hash: string): string;
  family(id: string): string;
}

export function userKeys(tag: string): UserKeys {
  const group = groupOf(tag);
  const base = `sess:{s:${group}}:${tag}:`;
  return {
    tag,
    base,
    idx: `${base}idx`,
    live: groupLiveKey(group),
    epoch: `${base}ep`,
    session: (hash) => `${base}s:${hash}`,
    refresh: (hash) => `${base}r:${hash}`,
    family: (id) => `${base}f:${id}`,
  };
}

/** Hashes a token's secret part; the hash is what names keys. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('base64url');

export interface IssuedToken {
  token: string;
  hash: string;
}

export function issueToken(tag: string): IssuedToken {
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { token: `${tag}.${secret}`, hash: hashSecret(secret) };
}

export const newFamilyId = (): string => randomBytes(16).toString('base64url');

export interface ParsedToken {
  tag: string;
  hash: string;
  /** The secret part itself, kept only in memory for the refresh grace seal. */
  secret: string;
}

/** A token from the outside world (cookie, header); anything malformed is simply not a session. */
export function parseToken(token: unknown): ParsedToken | null {
  if (typeof token !== 'string') return null;
  const match = TOKEN.exec(token);
  if (!match) return null;
  const tag = match[1]!;
  // Canonical encoding only: two spellings of one tag (the last character's spare bits) must not both work.
  if (Buffer.from(tag, 'base64url').toString('base64url') !== tag) return null;
  if (Buffer.from(match[2]!, 'base64url').toString('base64url') !== match[2]) return null;
  return { tag, hash: hashSecret(match[2]!), secret: match[2]! };
}

/** Constant-time equality of two hashes (equal lengths by construction; unequal lengths are unequal). */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Refresh grace: the pair issued by a rotation is kept, for the grace window, sealed (AES-256-GCM)
 * with a key derived from the presented refresh token's secret. Redis holds only that token's
 * SHA-256, so only a client presenting the token itself again can open it.
 */
function graceKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from('nestjs-redis-kit/refresh-grace'), Buffer.alloc(0), 32));
}

export function sealPair(presentedSecret: string, sessionId: string, refreshToken: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', graceKey(presentedSecret), iv);
  const body = Buffer.concat([cipher.update(`${sessionId} ${refreshToken}`, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

export function openPair(presentedSecret: string, sealed: string): { sessionId: string; refreshToken: string } | null {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length < 12 + 16 + 1) return null;
    const decipher = createDecipheriv('aes-256-gcm', graceKey(presentedSecret), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    const text = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    const [sessionId, refreshToken] = text.split(' ');
    if (!parseToken(sessionId) || !parseToken(refreshToken)) return null;
    return { sessionId: sessionId!, refreshToken: refreshToken! };
  } catch {
    return null;
  }
}
