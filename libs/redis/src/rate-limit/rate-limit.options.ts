import type { ExecutionContext } from '@nestjs/common';
import { RedisKitError } from '../redis.errors.js';
import { toMs, type Duration } from '../duration.js';
import { MAX_POLICIES_PER_CALL } from '../engine/scripts/rate-limit.scripts.js';

/** How a policy counts: a sliding window, a fixed window, or a token bucket refilling `limit` tokens per `window`. */
export type RateLimitAlgorithm = 'sliding-window' | 'fixed-window' | 'token-bucket';

/**
 * What a policy does while its decision cannot come from Redis (breaker open, or this call failed):
 * - `'local'`: an in-memory limiter on this instance with the same limit (so with N instances the
 *   fleet admits up to N x limit until Redis returns);
 * - `'open'`: allow the request;
 * - `'closed'`: refuse it with **503** Service Unavailable (not 429: the client did not exceed anything).
 */
export type WhenUnavailable = 'local' | 'open' | 'closed';

/**
 * Who a budget belongs to: `'ip'` (client address, see `trustProxy` and `ipv6Subnet`), `'user'`
 * (`req.user.id`, else `req.user.sub`; the policy does not apply to anonymous requests),
 * `'user-or-ip'` (the default) or a function returning any string.
 */
export type RateLimitBy = 'ip' | 'user' | 'user-or-ip' | ((context: ExecutionContext) => string | Promise<string>);

/** One rate-limit policy: how many requests (cost units) per window, whose budget, and what to do without Redis. */
export interface RateLimitOptions {
  /** Requests (cost units) allowed per window; an integer >= 1. */
  limit: number;
  /** Window length: milliseconds or `'30s'`, `'15m'`, `'1h'`... For a token bucket, the time to refill `limit` tokens. */
  window: Duration;
  by?: RateLimitBy;
  /** Names the policy in headers, the 429 body and the key: letters, digits, `.`, `_`, `-`; default `<limit>-in-<window>`. */
  name?: string;
  /** Units one request consumes; an integer from 1 to `limit`, or a function of the context. Default 1. */
  cost?: number | ((context: ExecutionContext) => number);
  algorithm?: RateLimitAlgorithm;
  whenUnavailable?: WhenUnavailable;
  /** The 429 body's `message` when this policy refuses; overrides `rateLimit.message`. See `RateLimitMessage`. */
  message?: RateLimitMessage;
}

/**
 * What a refused client reads. A string is the body's `message`; `{policy}`, `{limit}`, `{window}`
 * (seconds) and `{retryAfter}` (seconds) in it are replaced. A function receives the decision and
 * returns the `message` (a string) or the whole body (an object, sent as is with status 429).
 */
export type RateLimitMessage = string | ((decision: RateLimitRefusal) => string | Record<string, unknown>);

/** What a `message` function is told about a refused request. */
export interface RateLimitRefusal {
  /** The refusing policy's name. */
  policy: string;
  limit: number;
  windowMs: number;
  /** Seconds until the same request could pass (at least 1). */
  retryAfter: number;
  /** 429 (a policy refused) or 503 (a `'closed'` policy could not be checked; the message then is not used). */
  status: number;
}

/**
 * What start-up does about a handler that carries `@RateLimit` but that no rate-limit guard runs for
 * (the decorator would do nothing): `'error'` stops start-up naming each such handler, `'warn'` logs
 * them, `'ignore'` says nothing.
 */
export type RateLimitUnguarded = 'error' | 'warn' | 'ignore';

/** The `rateLimit` section of `RedisModuleOptions`. */
export interface RateLimitModuleOptions {
  /** Policies applied to every route the guard protects (a route policy of the same name replaces one). */
  defaults?: RateLimitOptions[];
  /**
   * Register `RateLimitGuard` for every HTTP route of the application (as an `APP_GUARD`), so
   * `@RateLimit` works without `@UseGuards`. Other contexts (WebSocket, RPC) pass through it
   * untouched, and a route with no policy (no `@RateLimit`, no `defaults`) costs no Redis call.
   * A request is limited once even when `@UseGuards(RateLimitGuard)` also names the guard. Default false.
   */
  global?: boolean;
  /**
   * A handler with `@RateLimit` that no matching guard protects (`RateLimitGuard` for HTTP routes,
   * `WsRateLimitGuard` for `@SubscribeMessage`, `RpcRateLimitGuard` for `@MessagePattern` /
   * `@EventPattern`, through `@UseGuards`, `APP_GUARD`, `app.useGlobalGuards()` or `global`) is found
   * at start-up: `'error'` (default) stops it with a message naming each handler, `'warn'` logs it.
   */
  unguarded?: RateLimitUnguarded;
  /**
   * Where the client address comes from. Unset (default): from the framework, `req.ip`, which
   * follows Express' `app.set('trust proxy', ...)` and Fastify's `trustProxy` option (as
   * `@nestjs/throttler` does; without them it is the socket's peer). A number `n` reads
   * `X-Forwarded-For` here instead, whatever the framework says: the client is the address the n-th
   * proxy from the app saw, counted from the right, so a client cannot choose it by sending its own
   * header; `true` means 1. `false` or 0: the socket's peer, the header is ignored. WebSocket and RPC
   * guards have no framework address: unset means the peer there.
   */
  trustProxy?: boolean | number;
  /** IPv6 clients are grouped by this prefix length, since one host usually owns a whole /64. Default 64. */
  ipv6Subnet?: number;
  /** Also send `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Reset in seconds from now, not a timestamp). Default false. */
  legacyHeaders?: boolean;
  /** Refuse subjects known to be blocked without asking Redis until their retry time. Default true. */
  blockCache?: boolean;
  /** Most blocked subjects remembered (least recently used dropped first). Default 10,000. */
  blockCacheSize?: number;
  /** Most keys the `'local'` limiter holds while Redis is away. Default 100,000. */
  localMaxEntries?: number;
  /**
   * The hard ceiling on waiting for Redis' decision, in ms. A decision call is not held to
   * `commandTimeoutMs`: a reply that is late because this process's event loop lagged under a burst
   * is still Redis' answer, and treating it as an outage would hand the request to the per-instance
   * `'local'` limiter exactly when the limit is under attack. The ceiling counts only time the
   * event loop was free to read the reply (a stall does not count); the call's wall-clock deadline on
   * the connection is 3 x the ceiling, which is also when the breaker hears of a Redis that stopped
   * answering. Only past the ceiling or while the breaker is open does `whenUnavailable` apply.
   * Default 5,000 (at least `commandTimeoutMs`).
   */
  decisionTimeoutMs?: number;
  /**
   * Decide the requests of one subject issued in the same event-loop turn with one script call (in
   * order, each exactly as if alone). Default true.
   */
  coalesce?: boolean;
  /** The 429 body's `message` for every policy (a policy's own `message` wins). Default: `Rate limit "{policy}" exceeded; retry in {retryAfter} s`. */
  message?: RateLimitMessage;
}

export interface ResolvedRateLimitModuleOptions {
  defaults: RateLimitOptions[];
  trustProxyHops: number;
  /** True when `trustProxy` is unset: the HTTP guard takes the framework's `req.ip`. */
  frameworkAddress: boolean;
  global: boolean;
  unguarded: RateLimitUnguarded;
  ipv6Subnet: number;
  legacyHeaders: boolean;
  blockCache: boolean;
  blockCacheSize: number;
  localMaxEntries: number;
  decisionTimeoutMs: number;
  coalesce: boolean;
  message?: RateLimitMessage;
}

/** A rate-limit policy or module section that cannot work; thrown at start-up or on first use of a route. */
export class RateLimitConfigError extends RedisKitError {
  constructor(message: string) {
    super('E_RATE_LIMIT_CONFIG', message);
  }
}

/** A policy as the guard runs it. */
export interface ResolvedPolicy {
  name: string;
  limit: number;
  windowMs: number;
  algorithm: RateLimitAlgorithm;
  by: RateLimitBy;
  cost: number | ((context: ExecutionContext) => number);
  whenUnavailable: WhenUnavailable;
  message?: RateLimitMessage;
}

/** Default hard ceiling on a rate-limit decision's wait for Redis (see `decisionTimeoutMs`). */
export const DEFAULT_DECISION_TIMEOUT_MS = 5_000;

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const ALGORITHMS: readonly RateLimitAlgorithm[] = ['sliding-window', 'fixed-window', 'token-bucket'];
const MODES: readonly WhenUnavailable[] = ['local', 'open', 'closed'];
const BY = ['ip', 'user', 'user-or-ip'];
const UNGUARDED: readonly RateLimitUnguarded[] = ['error', 'warn', 'ignore'];

function defaultName(limit: number, windowMs: number): string {
  const w = windowMs % 1000 === 0 ? `${windowMs / 1000}s` : `${windowMs}ms`;
  return `${limit}-in-${w}`;
}

/** Validates one policy; `where` names it in the error (e.g. `@RateLimit on CatsController.list`). */
export function resolvePolicy(options: RateLimitOptions, where: string): ResolvedPolicy {
  const o = options ?? ({} as RateLimitOptions);
  const fail = (what: string) => {
    throw new RateLimitConfigError(`${where}: ${what}`);
  };
  if (!Number.isSafeInteger(o.limit) || o.limit < 1) fail(`limit must be an integer >= 1 (got ${String(o.limit)})`);
  let windowMs = 0;
  try {
    windowMs = toMs(o.window, 'window');
  } catch (error) {
    fail(error instanceof Error ? error.message.replace(/^Invalid Redis configuration: /, '') : String(error));
  }
  if (!Number.isInteger(windowMs) || windowMs < 1) fail(`window must be at least 1 ms (got ${String(o.window)})`);
  // The script keeps limit x window scaled counters, up to twice that in flight: below 2^53 they are exact.
  if (o.limit * windowMs > 2 ** 52) fail('limit x window (ms) must stay below 2^52 so the counters stay exact');
  const name = o.name ?? defaultName(o.limit, windowMs);
  if (!NAME.test(name)) fail(`name must be 1-64 letters, digits, '.', '_' or '-' (got ${JSON.stringify(name)})`);
  const algorithm = o.algorithm ?? 'sliding-window';
  if (!ALGORITHMS.includes(algorithm)) fail(`algorithm must be one of ${ALGORITHMS.join(', ')} (got ${JSON.stringify(algorithm)})`);
  const whenUnavailable = o.whenUnavailable ?? 'local';
  if (!MODES.includes(whenUnavailable)) fail(`whenUnavailable must be one of ${MODES.join(', ')} (got ${JSON.stringify(whenUnavailable)})`);
  const by = o.by ?? 'user-or-ip';
  if (typeof by !== 'function' && !BY.includes(by)) fail(`by must be 'ip', 'user', 'user-or-ip' or a function (got ${JSON.stringify(by)})`);
  const cost = o.cost ?? 1;
  if (typeof cost !== 'function') checkCost(cost, o.limit, where);
  if (o.message !== undefined && typeof o.message !== 'string' && typeof o.message !== 'function') fail('message must be a string or a function of the refusal');
  return { name, limit: o.limit, windowMs, algorithm, by, cost, whenUnavailable, message: o.message };
}

/** A cost the script can honour: refusing `cost > limit` forever would look like a bug to the client. */
export function checkCost(cost: number, limit: number, where: string): void {
  if (!Number.isSafeInteger(cost) || cost < 1 || cost > limit) {
    throw new RateLimitConfigError(`${where}: cost must be an integer from 1 to the limit ${limit} (got ${String(cost)})`);
  }
}

export function resolveRateLimitModuleOptions(options: RateLimitModuleOptions | undefined): ResolvedRateLimitModuleOptions {
  const o = options ?? {};
  const problems: string[] = [];
  const positive = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  if (o.trustProxy !== undefined && typeof o.trustProxy !== 'boolean' && !(Number.isInteger(o.trustProxy) && o.trustProxy >= 0)) {
    problems.push(`rateLimit.trustProxy must be a boolean or the number of proxies in front of the app (got ${String(o.trustProxy)})`);
  }
  if (o.global !== undefined && typeof o.global !== 'boolean') problems.push(`rateLimit.global must be true or false (got ${String(o.global)})`);
  if (o.unguarded !== undefined && !UNGUARDED.includes(o.unguarded)) {
    problems.push(`rateLimit.unguarded must be one of ${UNGUARDED.map((u) => `'${u}'`).join(', ')} (got ${JSON.stringify(o.unguarded)})`);
  }
  if (o.ipv6Subnet !== undefined && !(Number.isInteger(o.ipv6Subnet) && o.ipv6Subnet >= 8 && o.ipv6Subnet <= 128)) {
    problems.push(`rateLimit.ipv6Subnet must be an integer from 8 to 128 (got ${String(o.ipv6Subnet)})`);
  }
  for (const k of ['blockCacheSize', 'localMaxEntries'] as const) {
    if (o[k] !== undefined && !positive(o[k])) problems.push(`rateLimit.${k} must be a positive integer (got ${String(o[k])})`);
  }
  if (o.decisionTimeoutMs !== undefined && !positive(o.decisionTimeoutMs)) problems.push(`rateLimit.decisionTimeoutMs must be a positive integer (got ${String(o.decisionTimeoutMs)})`);
  if (o.message !== undefined && typeof o.message !== 'string' && typeof o.message !== 'function') problems.push('rateLimit.message must be a string or a function of the refusal');
  if (o.defaults !== undefined && !Array.isArray(o.defaults)) problems.push('rateLimit.defaults must be an array of policies');
  const defaults = Array.isArray(o.defaults) ? o.defaults : [];
  if (defaults.length > MAX_POLICIES_PER_CALL) problems.push(`rateLimit.defaults may hold at most ${MAX_POLICIES_PER_CALL} policies`);
  defaults.forEach((p, i) => {
    try {
      resolvePolicy(p, `rateLimit.defaults[${i}]`);
    } catch (error) {
      problems.push((error as Error).message);
    }
  });
  if (problems.length > 0) throw new RateLimitConfigError(problems.length === 1 ? problems[0]! : `\n- ${problems.join('\n- ')}`);
  return {
    defaults,
    trustProxyHops: o.trustProxy === true ? 1 : typeof o.trustProxy === 'number' ? o.trustProxy : 0,
    frameworkAddress: o.trustProxy === undefined,
    global: o.global ?? false,
    unguarded: o.unguarded ?? 'error',
    ipv6Subnet: o.ipv6Subnet ?? 64,
    legacyHeaders: o.legacyHeaders ?? false,
    blockCache: o.blockCache ?? true,
    blockCacheSize: o.blockCacheSize ?? 10_000,
    localMaxEntries: o.localMaxEntries ?? 100_000,
    decisionTimeoutMs: o.decisionTimeoutMs ?? DEFAULT_DECISION_TIMEOUT_MS,
    coalesce: o.coalesce ?? true,
    message: o.message,
  };
}
