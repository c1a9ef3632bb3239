import { createHash } from 'node:crypto';

/** Who is calling, as the auth guard established it. */
export interface AuthUser {
  id: string;
  role: 'admin' | 'member';
  /** The caller's session id (Bearer), when the request carried one. */
  sessionId?: string;
}

export interface SessionData {
  role: 'admin' | 'member';
  name: string;
}

/** Requests after the guard ran. */
export interface AuthRequest {
  headers: Record<string, string | string[] | undefined>;
  ip?: string;
  user?: AuthUser;
}

export const GATEWAY_USER_HEADER = 'x-user-id';
export const GATEWAY_ROLE_HEADER = 'x-user-role';
export const GATEWAY_AUTH_HEADER = 'x-gateway-auth';

/** Issuer of the demo's deny-list entries; the gateway checks the same (iss, jti). */
export const DENYLIST_ISSUER = 'nestjs-redis-kit-demo';

/** Deny-list id of a session: a hash, so the deny-list never holds a usable session id. */
export const sessionJti = (sessionId: string): string => createHash('sha256').update(sessionId).digest('base64url');

export function bearerToken(headers: AuthRequest['headers']): string | undefined {
  const raw = headers.authorization;
  const value = Array.isArray(raw) ? raw[0] : raw;
  const match = value ? /^Bearer\s+(\S+)$/i.exec(value) : null;
  return match?.[1];
}
