import type { ScriptReply } from '../engine/script.registry.js';
import { SessionInputError } from './session.errors.js';
import type { Session } from './session.types.js';

/** The fallback engine's stats say whether the last command failed on Redis (answered from memory). */
export function asList(reply: ScriptReply): ScriptReply[] {
  return Array.isArray(reply) ? reply : [reply];
}

/** The session fields as the scripts return them: ua, ip, data, createdAt, lastSeen, expiry, absolute expiry. */
export function sessionFields<T>([ua, ip, data, ca, ls, exp, abs]: readonly (ScriptReply | undefined)[]): Omit<Session<T>, 'userId'> | null {
  let parsed: T;
  try {
    parsed = JSON.parse(String(data)) as T;
  } catch {
    return null;
  }
  return {
    data: parsed,
    userAgent: orUndefined(ua),
    ip: orUndefined(ip),
    createdAt: Number(ca),
    lastSeenAt: Number(ls),
    expiresAt: Number(exp),
    absoluteExpiresAt: Number(abs),
  };
}

/** A multi-key command on a slot in the middle of a migration that ioredis gave up resending. */
export function isSlotMoving(error: unknown): boolean {
  return error instanceof Error && /TRYAGAIN|Too many Cluster redirections/.test(error.message);
}

function orUndefined(value: ScriptReply | undefined): string | undefined {
  return value === null || value === undefined || value === '' ? undefined : String(value);
}

export function optionalText(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new SessionInputError(`${what} must be a string`);
  return value;
}
