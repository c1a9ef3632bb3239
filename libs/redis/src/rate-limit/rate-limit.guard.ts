import { HttpException, HttpStatus, Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RedisConnection } from '../connection/redis.connection.js';
import { createLocalEngine } from '../engine/local.engine.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { RedisMetrics } from '../metrics/redis-metrics.js';
import { MAX_POLICIES_PER_CALL, RATE_LIMIT_ALGORITHM_CODE, rateLimitCheckScript } from '../engine/scripts/rate-limit.scripts.js';
import type { ScriptReply } from '../engine/script.registry.js';
import { RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';
import { BlockCache } from './rate-limit.block-cache.js';
import { RATE_LIMIT_POLICIES, RATE_LIMIT_SKIP } from './rate-limit.decorator.js';
import { msToRetryAfterSeconds, ratelimitField, ratelimitPolicyField, tightest, type PolicyOutcome } from './rate-limit.headers.js';
import { clientAddress, encodeSubject, normalizeAddress } from './rate-limit.identity.js';
import {
  checkCost,
  RateLimitConfigError,
  resolvePolicy,
  resolveRateLimitModuleOptions,
  type RateLimitOptions,
  type ResolvedPolicy,
  type ResolvedRateLimitModuleOptions,
} from './rate-limit.options.js';

/** Injection token of the resolved `rateLimit` section of the default connection's options. */
export const RATE_LIMIT_OPTIONS = 'REDIS:RATE_LIMIT_OPTIONS';

/** A policy bound to where it was declared: module defaults, a controller, or a handler. */
export interface ScopedPolicy extends ResolvedPolicy {
  /** `g` for module defaults, `<Controller>` or `<Controller>.<handler>`: the budget's scope. */
  scope: string;
}

/** Where a decision came from; `blocked` = the local block cache, no Redis call. */
export type DecisionSource = 'redis' | 'memory' | 'local' | 'blocked';

/** The guard's verdict on one request over all policies that apply, with each policy's outcome and where it came from. */
export interface RateLimitDecision {
  allowed: boolean;
  /** 503 when a `'closed'` policy could not be checked, 429 when a policy refused, 200 otherwise. */
  status: number;
  outcomes: PolicyOutcome[];
  /** The policy that refused (the one asking for the longest wait). */
  refusedBy?: PolicyOutcome;
  sources: DecisionSource[];
}

interface Charge {
  policy: ScopedPolicy;
  key: string;
  cost: number;
}

interface GroupResult {
  outcomes: PolicyOutcome[];
  source: DecisionSource;
  /** Set when a `'closed'` policy could not be checked. */
  unavailable?: ScopedPolicy;
}

const ALGORITHM_SUFFIX = { 'sliding-window': 's', 'fixed-window': 'f', 'token-bucket': 'b' } as const;

// How long a client is told to wait when a 'closed' policy cannot be checked: about one probe cycle.
const UNAVAILABLE_RETRY_MS = 1_000;

/**
 * Applies `@RateLimit` policies (and the module's `rateLimit.defaults`). Every step is a protected
 * method, so a subclass can change one without copying the rest: `getRequestResponse` (other
 * transports), `getPolicies`, `getIdentity`, `buildKey`, `setHeaders`, `throwRefused`.
 *
 * All policies of a request that share a subject are decided by one script call (one EVALSHA),
 * charged only if all allow. Decisions come from Redis; while Redis cannot answer (breaker open,
 * or this very call failed or missed the deadline) each policy follows its `whenUnavailable`. The
 * script call refuses an answer from the connection's fallback, so a reply is Redis's own (or the
 * embedded store's, which is the store of record when no Redis is configured).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  protected readonly settings: ResolvedRateLimitModuleOptions;
  private readonly blocked: BlockCache;
  /** The `'local'` limiter: same script twin, own bounded store, never cleared by recovery. */
  private readonly local: StoreEngine;
  private readonly routes = new WeakMap<object, ScopedPolicy[] | null>();
  private readonly defaults: ScopedPolicy[];

  constructor(
    protected readonly connection: RedisConnection,
    protected readonly reflector: Reflector,
    @Optional() @Inject(RATE_LIMIT_OPTIONS) options?: ResolvedRateLimitModuleOptions,
    @Optional() protected readonly metrics?: RedisMetrics,
  ) {
    this.settings = options ?? resolveRateLimitModuleOptions(undefined);
    this.blocked = new BlockCache(this.settings.blockCacheSize);
    this.local = createLocalEngine({ maxEntries: this.settings.localMaxEntries });
    this.defaults = this.settings.defaults.map((p, i) => ({ ...resolvePolicy(p, `rateLimit.defaults[${i}]`), scope: 'g' }));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const policies = this.getPolicies(context);
    if (policies.length === 0) return true;
    const rr = this.getRequestResponse(context);
    if (!rr) return true;
    const decision = await this.decide(context, rr.req, policies);
    if (decision.outcomes.length === 0) return true;
    this.recordMetrics(decision);
    this.setHeaders(rr.res, decision);
    if (!decision.allowed) this.throwRefused(decision, context);
    return true;
  }

  /** Allowed: every policy was charged. Refused: only the policy that refused is counted. */
  protected recordMetrics(decision: RateLimitDecision): void {
    if (!this.metrics?.enabled) return;
    if (!decision.allowed) {
      if (decision.refusedBy) this.metrics.rateLimitRefused(decision.refusedBy.name);
      return;
    }
    for (const o of decision.outcomes) this.metrics.rateLimitAllowed(o.name);
  }

  /** Runs every policy for this request and charges them; what `canActivate` acts on. */
  async decide(context: ExecutionContext, req: unknown, policies: readonly ScopedPolicy[]): Promise<RateLimitDecision> {
    const groups = new Map<string, Charge[]>();
    for (const policy of policies) {
      const subject = await this.getIdentity(context, req, policy);
      if (subject === undefined) continue;
      let cost = policy.cost;
      if (typeof cost === 'function') {
        cost = cost(context);
        checkCost(cost, policy.limit, `@RateLimit "${policy.name}" cost()`);
      }
      const charge = { policy, key: this.buildKey(subject, policy), cost };
      const group = groups.get(subject);
      if (group) group.push(charge);
      else groups.set(subject, [charge]);
    }
    // Keys of different subjects live in different slots: one call per subject, concurrently.
    const results = await Promise.all([...groups.values()].map((g) => this.decideGroup(g)));
    const outcomes = results.flatMap((r) => r.outcomes);
    const unavailable = results.find((r) => r.unavailable)?.unavailable;
    let refusedBy: PolicyOutcome | undefined;
    for (const o of outcomes) if (o.known && !o.allowed && (!refusedBy || o.retryMs > refusedBy.retryMs)) refusedBy = o;
    if (!refusedBy && unavailable) refusedBy = outcomes.find((o) => o.name === unavailable.name);
    const status = refusedBy ? (unavailable && !refusedBy.known ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.TOO_MANY_REQUESTS) : HttpStatus.OK;
    return { allowed: !refusedBy, status, outcomes, refusedBy, sources: results.map((r) => r.source) };
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
    const by = policy.by;
    if (typeof by === 'function') {
      const value = await by(context);
      if (typeof value !== 'string' || value.length === 0) throw new RateLimitConfigError(`@RateLimit "${policy.name}": by() must return a non-empty string`);
      return `k:${encodeSubject(value)}`;
    }
    const r = req as RequestLike;
    if (by !== 'ip') {
      const user = r.user as { id?: unknown; sub?: unknown } | undefined | null;
      const id = user?.id ?? user?.sub;
      if ((typeof id === 'string' && id.length > 0) || typeof id === 'number') return `u:${encodeSubject(String(id))}`;
      if (by === 'user') return undefined;
    }
    const peer = r.socket?.remoteAddress ?? r.raw?.socket?.remoteAddress ?? r.ip;
    const address = clientAddress(peer, r.headers?.['x-forwarded-for'], this.settings.trustProxyHops);
    return `ip:${normalizeAddress(address, this.settings.ipv6Subnet) ?? 'unknown'}`;
  }

  /** `rl:{<subject>}:<scope>:<name>:<algorithm>`: one hash tag per subject, so one script covers its policies on Cluster. */
  protected buildKey(subject: string, policy: ScopedPolicy): string {
    return `rl:{${subject}}:${policy.scope}:${policy.name}:${ALGORITHM_SUFFIX[policy.algorithm]}`;
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

  /** 429 with `{ statusCode, error, message, policy, retryAfter }`; 503 when a `'closed'` policy could not be checked. */
  protected throwRefused(decision: RateLimitDecision, _context: ExecutionContext): never {
    const policy = decision.refusedBy?.name;
    const retryAfter = Math.max(1, msToRetryAfterSeconds(retryMsOf(decision)));
    if (decision.status === HttpStatus.SERVICE_UNAVAILABLE) {
      throw new HttpException(
        { statusCode: 503, error: 'Service Unavailable', message: `Rate limit "${policy}" cannot be checked right now`, policy, retryAfter },
        HttpStatus.SERVICE_UNAVAILABLE,
      );
    }
    throw new HttpException(
      { statusCode: 429, error: 'Too Many Requests', message: `Rate limit "${policy}" exceeded; retry in ${retryAfter} s`, policy, retryAfter },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }

  // ---- internals ------------------------------------------------------------------------------

  private compileRoute(context: ExecutionContext): ScopedPolicy[] | null {
    const handler = context.getHandler();
    const controller = context.getClass();
    if (this.reflector.getAllAndOverride<boolean>(RATE_LIMIT_SKIP, [handler, controller])) return null;
    const byName = new Map<string, ScopedPolicy>();
    for (const p of this.defaults) byName.set(p.name, p);
    const levels: Array<[object, string]> = [
      [controller, controller.name],
      [handler, `${controller.name}.${handler.name}`],
    ];
    for (const [holder, scope] of levels) {
      const declared = (Reflect.getMetadata(RATE_LIMIT_POLICIES, holder) as RateLimitOptions[] | undefined) ?? [];
      const seen = new Set<string>();
      for (const options of declared) {
        const policy = { ...resolvePolicy(options, `@RateLimit on ${scope}`), scope };
        if (seen.has(policy.name)) throw new RateLimitConfigError(`@RateLimit on ${scope}: two policies are named "${policy.name}"; give each a distinct name`);
        seen.add(policy.name);
        byName.set(policy.name, policy);
      }
    }
    const policies = [...byName.values()];
    if (policies.length > MAX_POLICIES_PER_CALL) throw new RateLimitConfigError(`${controller.name}.${handler.name} has ${policies.length} rate-limit policies; at most ${MAX_POLICIES_PER_CALL}`);
    return policies;
  }

  private async decideGroup(charges: Charge[]): Promise<GroupResult> {
    const now = Date.now();
    if (this.settings.blockCache) {
      for (const c of charges) {
        const ms = this.blocked.blockedFor(c.key, c.cost, now);
        if (ms > 0) {
          // Only the blocking policy is known without asking; the others are left out of `RateLimit`.
          return {
            source: 'blocked',
            outcomes: charges.map((x) => (x === c ? outcome(x.policy, true, false, 0, ms, ms) : outcome(x.policy, false, true, 0, 0, 0))),
          };
        }
      }
    }
    const engine = this.connection.engine;
    const mode = engine.mode();
    if (mode === 'fallback' || mode === 'unavailable') return this.degraded(charges);
    let reply: ScriptReply;
    try {
      reply = await engine.runScript(rateLimitCheckScript(charges.length), keysOf(charges), argsOf(charges), { fallback: false });
    } catch (error) {
      if (error instanceof RedisUnavailableError || error instanceof RedisTimeoutError) return this.degraded(charges);
      throw error;
    }
    // No Redis configured: the embedded store is the store of record, not a fallback.
    return { source: mode === 'embedded' ? 'memory' : 'redis', outcomes: this.readReply(charges, reply as number[]) };
  }

  /** Redis could not decide: each policy follows its `whenUnavailable`. */
  private async degraded(charges: Charge[]): Promise<GroupResult> {
    if (this.metrics?.enabled) for (const c of charges) this.metrics.rateLimitUnchecked(c.policy.name, c.policy.whenUnavailable);
    const closed = charges.find((c) => c.policy.whenUnavailable === 'closed');
    if (closed) {
      // Refused before the local limiter runs, so a refused request charges nothing there either.
      return {
        source: 'local',
        unavailable: closed.policy,
        outcomes: charges.map((c) => outcome(c.policy, false, c !== closed, 0, 0, c === closed ? UNAVAILABLE_RETRY_MS : 0)),
      };
    }
    const local = charges.filter((c) => c.policy.whenUnavailable === 'local');
    const outcomes = charges.map((c) => outcome(c.policy, false, true, 0, 0, 0));
    if (local.length > 0) {
      const reply = (await this.local.runScript(rateLimitCheckScript(local.length), keysOf(local), argsOf(local))) as number[];
      const decided = this.readReply(local, reply);
      local.forEach((c, i) => (outcomes[charges.indexOf(c)] = decided[i]!));
    }
    return { source: 'local', outcomes };
  }

  private readReply(charges: Charge[], reply: number[]): PolicyOutcome[] {
    const now = Date.now();
    return charges.map((c, i) => {
      const at = 2 + i * 4;
      const allowed = reply[at] === 1;
      const retryMs = reply[at + 3]!;
      if (!allowed && this.settings.blockCache) this.blocked.block(c.key, now + retryMs, c.cost);
      return outcome(c.policy, true, allowed, reply[at + 1]!, reply[at + 2]!, retryMs);
    });
  }
}

interface RequestLike {
  ip?: string;
  user?: unknown;
  headers?: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string };
  raw?: { socket?: { remoteAddress?: string } };
}

function outcome(policy: ResolvedPolicy, known: boolean, allowed: boolean, remaining: number, resetMs: number, retryMs: number): PolicyOutcome {
  return { name: policy.name, limit: policy.limit, windowMs: policy.windowMs, known, allowed, remaining, resetMs, retryMs };
}

function keysOf(charges: Charge[]): string[] {
  return charges.map((c) => c.key);
}

function argsOf(charges: Charge[]): number[] {
  const args = [0];
  for (const c of charges) args.push(RATE_LIMIT_ALGORITHM_CODE[c.policy.algorithm], c.policy.limit, c.policy.windowMs, c.cost);
  return args;
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
