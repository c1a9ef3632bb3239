import { SessionInputError } from './session.errors.js';
import type { SessionTokens } from './session.service.js';

/**
 * Reading and writing the session id over HTTP, on Express and Fastify alike, without cookie-parser:
 * the `Cookie` header is parsed here, strictly (a value that is not plain cookie-octets is ignored).
 */

/** Name of the session cookie unless told otherwise. Prefer `__Host-sid` on HTTPS (no Domain, Path=/, Secure). */
export const DEFAULT_SESSION_COOKIE = 'sid';

/** The request as the session helpers read it: Express, Fastify and Node requests all fit. */
export interface SessionHttpRequest {
  headers: Record<string, string | string[] | undefined>;
}

/** Options of {@link sessionCookie} and {@link clearSessionCookie}. */
export interface SessionCookieOptions {
  /** Cookie name (default `'sid'`). A `__Host-` name requires `secure`, `path: '/'` and no `domain`. */
  name?: string;
  /** `Secure` attribute (default `true`): set `false` only for plain-HTTP local development. */
  secure?: boolean;
  /** `HttpOnly` attribute (default `true`): scripts in the page cannot read the session id. */
  httpOnly?: boolean;
  /** `SameSite` attribute (default `'Lax'`). `'None'` requires `secure`. */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** `Path` attribute (default `'/'`). */
  path?: string;
  /** `Domain` attribute (default: none, the cookie is host-only). */
  domain?: string;
  /** `Partitioned` attribute (CHIPS), default `false`. */
  partitioned?: boolean;
}

/** Where {@link readSessionId} looks for the session id. */
export interface SessionIdSources {
  /** Read `Authorization: Bearer <id>` (default `true`); it wins over the cookie. */
  bearer?: boolean;
  /** Cookie to read, or `false` for none (default `'sid'`). */
  cookie?: string | false;
}

/** The outcome of {@link readSessionId}: an id, none, or an ambiguous request that must be refused. */
export type SessionIdLookup = { sessionId: string } | { sessionId: null; problem?: 'ambiguous-cookie' | 'ambiguous-authorization' };

const TOKEN_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `name` may name a cookie (an RFC 6265 token). */
export function isCookieName(name: unknown): name is string {
  return typeof name === 'string' && TOKEN_NAME.test(name);
}
// RFC 6265 cookie-octet: no controls, whitespace, DQUOTE, comma, semicolon or backslash.
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
const ATTRIBUTE_VALUE = /^[\x20-\x3A\x3C-\x7E]+$/;
const MAX_HEADER = 16_384;

/**
 * All values of cookie `name` in the request's `Cookie` header(s), in order. Pairs that are not
 * `name=cookie-octets` (optionally double-quoted) are skipped; nothing is URL-decoded.
 */
export function readCookie(req: SessionHttpRequest, name: string): string[] {
  const raw = req?.headers?.cookie;
  const headers = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const values: string[] = [];
  for (const header of headers) {
    if (typeof header !== 'string' || header.length > MAX_HEADER) continue;
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (COOKIE_OCTETS.test(value)) values.push(value);
    }
  }
  return values;
}

/**
 * The session id a request presents: `Authorization: Bearer <id>` first, else the session cookie.
 * Two different values for the cookie (cookie tossing from a sibling subdomain, a stale path) or
 * several Authorization headers make the request ambiguous: it gets no session.
 */
export function readSessionId(req: SessionHttpRequest, sources: SessionIdSources = {}): SessionIdLookup {
  if (sources.bearer !== false) {
    const raw = req?.headers?.authorization;
    if (Array.isArray(raw) && raw.length > 1) return { sessionId: null, problem: 'ambiguous-authorization' };
    const value = Array.isArray(raw) ? raw[0] : raw;
    const match = typeof value === 'string' ? /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(value) : null;
    if (match) return { sessionId: match[1]! };
  }
  const cookie = sources.cookie === undefined ? DEFAULT_SESSION_COOKIE : sources.cookie;
  if (cookie === false) return { sessionId: null };
  const values = [...new Set(readCookie(req, cookie).filter((v) => v !== ''))];
  if (values.length > 1) return { sessionId: null, problem: 'ambiguous-cookie' };
  return values.length === 1 ? { sessionId: values[0]! } : { sessionId: null };
}

/**
 * Sets the session cookie from `create()`/`refresh()` tokens: `Secure; HttpOnly; SameSite=Lax;
 * Path=/` by default, `Max-Age` up to the session's absolute expiry. `res` is an Express response,
 * a Fastify reply or a Node `ServerResponse` (use `@Res({ passthrough: true })`).
 */
export function sessionCookie(res: unknown, tokens: Pick<SessionTokens, 'sessionId' | 'absoluteExpiresAt'>, options: SessionCookieOptions = {}): void {
  if (!tokens || typeof tokens.sessionId !== 'string' || !COOKIE_OCTETS.test(tokens.sessionId) || tokens.sessionId === '') {
    throw new SessionInputError('sessionCookie: tokens.sessionId must be the id returned by SessionService.create() or refresh()');
  }
  if (!Number.isFinite(tokens.absoluteExpiresAt)) throw new SessionInputError('sessionCookie: tokens.absoluteExpiresAt must be epoch milliseconds');
  const maxAge = Math.max(0, Math.floor((tokens.absoluteExpiresAt - Date.now()) / 1000));
  appendSetCookie(res, serialize(tokens.sessionId, maxAge, options));
}

/** Ends the session cookie in the browser (same name, path and domain as when it was set). Revoke the session too. */
export function clearSessionCookie(res: unknown, options: SessionCookieOptions = {}): void {
  appendSetCookie(res, serialize('', 0, options));
}

function serialize(value: string, maxAge: number, options: SessionCookieOptions): string {
  const name = options.name ?? DEFAULT_SESSION_COOKIE;
  const secure = options.secure ?? true;
  const sameSite = options.sameSite ?? 'Lax';
  const path = options.path ?? '/';
  const problems: string[] = [];
  if (!TOKEN_NAME.test(name)) problems.push(`name ${JSON.stringify(name)} is not a valid cookie name`);
  if (!['Strict', 'Lax', 'None'].includes(sameSite)) problems.push(`sameSite must be 'Strict', 'Lax' or 'None' (got ${JSON.stringify(sameSite)})`);
  if (sameSite === 'None' && !secure) problems.push("sameSite 'None' requires secure: true");
  if (!ATTRIBUTE_VALUE.test(path) || !path.startsWith('/')) problems.push(`path must start with / and contain no ; or control characters (got ${JSON.stringify(path)})`);
  if (options.domain !== undefined && !/^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(options.domain)) {
    problems.push(`domain ${JSON.stringify(options.domain)} is not a host name`);
  }
  if (name.startsWith('__Host-') && (!secure || path !== '/' || options.domain !== undefined)) problems.push('a __Host- cookie requires secure: true, path: "/" and no domain');
  if (name.startsWith('__Secure-') && !secure) problems.push('a __Secure- cookie requires secure: true');
  if (problems.length > 0) throw new SessionInputError(`session cookie: ${problems.join('; ')}`);
  const parts = [`${name}=${value}`, `Max-Age=${maxAge}`, `Path=${path}`];
  if (maxAge === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (options.domain !== undefined) parts.push(`Domain=${options.domain}`);
  if (secure) parts.push('Secure');
  if (options.httpOnly ?? true) parts.push('HttpOnly');
  parts.push(`SameSite=${sameSite}`);
  if (options.partitioned) parts.push('Partitioned');
  return parts.join('; ');
}

interface HeaderTarget {
  raw?: unknown;
  header?: (name: string, value: string) => unknown;
  append?: (name: string, value: string) => unknown;
  getHeader?: (name: string) => unknown;
  setHeader?: (name: string, value: string | string[]) => unknown;
}

/** Adds one Set-Cookie without dropping the ones already set (by this helper or by the app). */
function appendSetCookie(res: unknown, cookie: string): void {
  const target = res as HeaderTarget | null;
  if (target && typeof target === 'object') {
    // Fastify's reply: header('set-cookie') accumulates.
    if (target.raw && typeof target.header === 'function') {
      target.header('set-cookie', cookie);
      return;
    }
    // Express: append() accumulates.
    if (typeof target.append === 'function') {
      target.append('Set-Cookie', cookie);
      return;
    }
    if (typeof target.getHeader === 'function' && typeof target.setHeader === 'function') {
      const existing = target.getHeader('set-cookie');
      const list = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)];
      target.setHeader('Set-Cookie', [...list, cookie]);
      return;
    }
  }
  throw new SessionInputError('session cookie: pass the response (Express response, Fastify reply or Node ServerResponse), e.g. @Res({ passthrough: true }) res');
}
