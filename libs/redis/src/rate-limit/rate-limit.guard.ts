import { HttpException, HttpStatus, Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RedisConnection } from '../connection/redis.connection.js';
import { RedisMetrics } from '../metrics/redis-metrics.js';
import { msToRetryAfterSeconds, ratelimitField, ratelimitPolicyField, tightest } from './rate-limit.headers.js';
import { clientAddress } from './rate-limit.identity.js';
import { refusalBody } from './rate-limit.message.js';
import { compileRoutePolicies } from './rate-limit.route.js';
import type { ResolvedPolicy, ResolvedRateLimitModuleOptions } from './rate-limit.options.js';
import { chargesOf, subjectOf } from './rate-limit.steps.js';
import {
  RATE_LIMIT_OPTIONS,
  RateLimiter,
  rateLimitKey,
  UNAVAILABLE_RETRY_MS,
  type RateLimitDecision,
  type ScopedPolicy,
} from './rate-limiter.service.js';

// Kept importable from here: they were declared in this file before RateLimiter existed.
export { RATE_LIMIT_OPTIONS, type DecisionSource, type RateLimitDecision, type ScopedPolicy } from './rate-limiter.service.js';

/**
 * Applies `@RateLimit` policies (and the module's `rateLimit.defaults`) to HTTP requests through
 * `RateLimiter`, which holds the decision (one script call per subject, the block cache, the
 * `whenUnavailable` fallbacks). Every step here is a protected method, so a subclass can change one
 * without copying the rest: `getRequestResponse` (other transports), `getPolicies`, `getIdentity`,
 * `buildKey`, `setHeaders`, `throwRefused`. WebSocket gateways and microservices have their own
 * guards (`nestjs-redis-kit/websockets`, `nestjs-redis-kit/microservices`).
 *
 * Register it once for the app with `RedisModule.forRoot({ rateLimit: { global: true } })` (or an
 * `APP_GUARD`, or `@UseGuards`). A request is decided once: when several registrations run it (global
 * and `@UseGuards`, or a subclass too), the first to run decides and the others let the request pass.
 * The client address is the framework's `req.ip` unless `rateLimit.trustProxy` is set.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  protected readonly settings: ResolvedRateLimitModuleOptions;
  protected readonly limiter: RateLimiter;
  private readonly routes = new WeakMap<object, ScopedPolicy[] | null>();

  constructor(
    protected readonly connection: RedisConnection,
    protected readonly reflector: Reflector,
    @Optional() @Inject(RATE_LIMIT_OPTIONS) options?: ResolvedRateLimitModuleOptions,
    @Optional() protected readonly metrics?: RedisMetrics,
    // Optional so a subclass written before RateLimiter existed (four arguments) still works; it
    // then gets a limiter of its own (own block cache and local store).
    @Optional() limiter?: RateLimiter,
  ) {
    this.limiter = limiter ?? new RateLimiter(connection, options, metrics);
    this.settings = this.limiter.settings;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Other contexts first: a global guard leaves WebSocket and RPC handlers to their own guards.
    const rr = this.getRequestResponse(context);
    if (!rr) return true;
    const policies = this.getPolicies(context);
    if (policies.length === 0) return true;
    // `rateLimit.global` plus `@UseGuards(RateLimitGuard)` (or two APP_GUARDs) run the guard twice
    // for one request: charging twice would halve every limit.
    if (rr.req !== null && typeof rr.req === 'object') {
      if (limitedRequests.has(rr.req)) return true;
      limitedRequests.add(rr.req);
    }
    const decision = await this.decide(context, rr.req, policies);
    if (decision.outcomes.length === 0) return true;
    this.recordMetrics(decision);
    this.setHeaders(rr.res, decision);
    if (!decision.allowed) this.throwRefused(decision, context);
    return true;
  }

  /** Allowed: every policy was charged. Refused: only the policy that refused is counted. */
  protected recordMetrics(decision: RateLimitDecision): void {
    this.limiter.record(decision);
  }

  /** Runs every policy for this request and charges them; what `canActivate` acts on. */
  async decide(context: ExecutionContext, req: unknown, policies: readonly ScopedPolicy[]): Promise<RateLimitDecision> {
    const charges = await chargesOf(context, policies, (policy) => this.getIdentity(context, req, policy), (subject, policy) => this.buildKey(subject, policy));
    return this.limiter.decide(charges);
  }

  // ---- the overridable steps ------------------------------------------------------------------

  /** The HTTP request and response (Express or Fastify). Return undefined to leave a context unlimited. */
  protected getRequestResponse(context: ExecutionContext): { req: unknown; res: unknown } | undefined {
    if (context.getType() !== 'http') return undefined;
    const http = context.switchToHttp();
    return { req: http.getRequest(), res: http.getResponse() };
  }

  /** Module defaults, then the controller's, then the handler's; a later policy replaces one of the same name. */
  protected getPolicies(context: ExecutionContext): ScopedPolicy[] {
    const handler = context.getHandler();
    let policies = this.routes.get(handler);
    if (policies === undefined) {
      policies = this.compileRoute(context);
      this.routes.set(handler, policies);
    }
    return policies ?? [];
  }

  /**
   * The subject a policy's budget belongs to, prefixed by its kind (`ip:`, `u:`, `k:`) so a user
   * id can never equal an address. Undefined = the policy does not apply (`'user'` on an anonymous request).
   */
  protected async getIdentity(context: ExecutionContext, req: unknown, policy: ResolvedPolicy): Promise<string | undefined> {
    const r = req as RequestLike;
    return subjectOf(context, policy, r.user, () => {
      const peer = r.socket?.remoteAddress ?? r.raw?.socket?.remoteAddress ?? r.ip;
      // Unset trustProxy: the framework's own answer (Express 'trust proxy', Fastify trustProxy).
      return this.settings.frameworkAddress ? (r.ip ?? peer) : clientAddress(peer, r.headers?.['x-forwarded-for'], this.settings.trustProxyHops);
    }, this.settings.ipv6Subnet);
  }

  /** `rl:{<subject>}:<scope>:<name>:<algorithm>`: one hash tag per subject, so one script covers its policies on Cluster. */
  protected buildKey(subject: string, policy: ScopedPolicy): string {
    return rateLimitKey(subject, policy);
  }

  protected setHeaders(res: unknown, decision: RateLimitDecision): void {
    const set = headerSetter(res);
    if (!set) return;
    set('RateLimit-Policy', ratelimitPolicyField(decision.outcomes));
    const field = ratelimitField(decision.outcomes);
    if (field) set('RateLimit', field);
    if (this.settings.legacyHeaders) {
      const t = tightest(decision.outcomes);
      if (t) {
        set('X-RateLimit-Limit', String(t.limit));
        set('X-RateLimit-Remaining', String(t.remaining));
        set('X-RateLimit-Reset', String(msToRetryAfterSeconds(t.resetMs)));
      }
    }
    if (!decision.allowed && decision.refusedBy) {
      set('Retry-After', String(Math.max(1, msToRetryAfterSeconds(retryMsOf(decision)))));
    }
  }

  /**
   * 429 with `{ statusCode, error, message, policy, retryAfter }` (`message` configurable with
   * `rateLimit.message` or a policy's `message`; a function may return the whole body); 503 when a
   * `'closed'` policy could not be checked.
   */
  protected throwRefused(decision: RateLimitDecision, context: ExecutionContext): never {
    const body = refusalBody(decision, this.settings, this.getPolicies(context));
    throw new HttpException(body, decision.status === HttpStatus.SERVICE_UNAVAILABLE ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.TOO_MANY_REQUESTS);
  }

  // ---- internals ------------------------------------------------------------------------------

  private compileRoute(context: ExecutionContext): ScopedPolicy[] | null {
    return compileRoutePolicies(this.reflector, context.getClass(), context.getHandler(), this.settings);
  }
}

// Requests a RateLimitGuard already decided (any instance, any subclass): each is limited once.
const limitedRequests = new WeakSet<object>();

interface RequestLike {
  ip?: string;
  user?: unknown;
  headers?: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string };
  raw?: { socket?: { remoteAddress?: string } };
}

function retryMsOf(decision: RateLimitDecision): number {
  return decision.refusedBy?.retryMs ?? UNAVAILABLE_RETRY_MS;
}

/** Express (`res.setHeader`, also `res.header`) and Fastify (`reply.header`). */
function headerSetter(res: unknown): ((name: string, value: string) => void) | undefined {
  const r = res as { header?: (n: string, v: string) => unknown; setHeader?: (n: string, v: string) => unknown } | undefined;
  if (!r) return undefined;
  if (typeof r.header === 'function') return (n, v) => void r.header!(n, v);
  if (typeof r.setHeader === 'function') return (n, v) => void r.setHeader!(n, v);
  return undefined;
}
