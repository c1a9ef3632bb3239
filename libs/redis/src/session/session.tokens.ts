import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SessionInputError } from './session.errors.js';

/**
 * Session ids and refresh tokens are `<base64url(userId)>.<base64url(32 random bytes)>`. The user
 * part lets the service find the user's `{u:<id>}` keys without a global lookup; the secret part
 * (256 bits from the CSPRNG) is the credential, and Redis only ever holds its SHA-256.
 */

export const MAX_USER_ID_LENGTH = 256;
const SECRET_BYTES = 32;
// Control characters (C0, DEL, C1) would end up in logs and admin views the app renders.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const TOKEN = /^([A-Za-z0-9_-]{1,1400})\.([A-Za-z0-9_-]{43})$/;

export function checkUserId(userId: unknown, what = 'userId'): string {
  if (typeof userId !== 'string' || userId.length === 0) throw new SessionInputError(`${what} must be a non-empty string`);
  if (userId.length > MAX_USER_ID_LENGTH) throw new SessionInputError(`${what} must be at most ${MAX_USER_ID_LENGTH} characters (got ${userId.length})`);
  if (CONTROL.test(userId)) throw new SessionInputError(`${what} must not contain control characters`);
  if (LONE_SURROGATE.test(userId)) throw new SessionInputError(`${what} must be well-formed Unicode`);
  return userId;
}

const encodeUser = (userId: string): string => Buffer.from(userId, 'utf8').toString('base64url');

/** The user's key base; base64url keeps `{`, `}`, `:` and glob characters out of the key. */
export const userBase = (userId: string): string => `sess:{u:${encodeUser(userId)}}:`;

/** Hashes a token's secret part; the hash is what names keys. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('base64url');

export interface IssuedToken {
  token: string;
  hash: string;
}

export function issueToken(userId: string): IssuedToken {
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { token: `${encodeUser(userId)}.${secret}`, hash: hashSecret(secret) };
}

export const newFamilyId = (): string => randomBytes(16).toString('base64url');

export interface ParsedToken {
  userId: string;
  hash: string;
}

/** A token from the outside world (cookie, header); anything malformed is simply not a session. */
export function parseToken(token: unknown): ParsedToken | null {
  if (typeof token !== 'string') return null;
  const match = TOKEN.exec(token);
  if (!match) return null;
  const userId = Buffer.from(match[1]!, 'base64url').toString('utf8');
  // Canonical encoding only: two spellings of one user must not both work.
  if (encodeUser(userId) !== match[1]) return null;
  try {
    checkUserId(userId);
  } catch {
    return null;
  }
  return { userId, hash: hashSecret(match[2]!) };
}

/** Constant-time equality of two hashes (equal lengths by construction; unequal lengths are unequal). */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
