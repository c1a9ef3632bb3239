import { Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { clientAddress } from './rate-limit.identity.js';
import { refusalBody } from './rate-limit.message.js';
import type { ResolvedPolicy } from './rate-limit.options.js';
import { compileRoutePolicies } from './rate-limit.route.js';
import { chargesOf, subjectOf } from './rate-limit.steps.js';
import { RateLimiter, rateLimitKey, type RateLimitDecision, type ScopedPolicy } from './rate-limiter.service.js';

/** Who is on the other end of a socket or an RPC call, as far as the transport tells. */
export interface TransportPeer {
  /** The authenticated user (`{ id }` or `{ sub }`), when the application put one there. */
  user?: unknown;
  /** The peer's address (the socket's remote address). */
  address?: string;
  /** `X-Forwarded-For` of the handshake, read only with `rateLimit.trustProxy`. */
  forwardedFor?: string | string[];
}

/**
 * `@RateLimit` for contexts other than HTTP, through the same `RateLimiter` (and the same budgets:
 * a policy's key is its subject, scope and name). A subclass says who the peer is (`getPeer`) and how
 * a refusal travels (`refuse`); `getPolicies`, `getIdentity`, `buildKey` are the HTTP guard's steps.
 * `WsRateLimitGuard` (`nestjs-redis-kit/websockets`) and `RpcRateLimitGuard`
 * (`nestjs-redis-kit/microservices`) are the two shipped.
 */
@Injectable()
export abstract class TransportRateLimitGuard implements CanActivate {
  private readonly routes = new WeakMap<object, ScopedPolicy[] | null>();

  constructor(
    @Inject(RateLimiter) protected readonly limiter: RateLimiter,
    @Optional() @Inject(Reflector) protected readonly reflector: Reflector = new Reflector(),
  ) {}

  /** The context type this guard limits (`'ws'` or `'rpc'`); other contexts pass untouched. */
  protected abstract readonly contextType: string;

  /** The peer of this message: user, address, forwarded-for. */
  protected abstract getPeer(context: ExecutionContext): TransportPeer;

  /** Throws the transport's error for a refused message (`WsException`, `RpcException`). */
  protected abstract refuse(body: Record<string, unknown>, decision: RateLimitDecision, context: ExecutionContext): never;

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== this.contextType) return true;
    const policies = this.getPolicies(context);
    if (policies.length === 0) return true;
    // An APP_GUARD plus @UseGuards (or a subclass too) run for the same message: charging each
    // time would cut every limit; the first to run decides, as with the HTTP guard.
    const message = context.getArgs();
    if (decidedMessages.has(message)) return true;
    decidedMessages.add(message);
    const decision = await this.decide(context, policies);
    this.limiter.record(decision);
    if (!decision.allowed) this.refuse(refusalBody(decision, this.limiter.settings, policies), decision, context);
    return true;
  }

  /** Runs every policy for this message and charges them; what `canActivate` acts on. */
  async decide(context: ExecutionContext, policies: readonly ScopedPolicy[]): Promise<RateLimitDecision> {
    let peer: TransportPeer | undefined;
    const charges = await chargesOf(context, policies, (policy) => this.getIdentity(context, (peer ??= this.getPeer(context)), policy), (subject, policy) => this.buildKey(subject, policy));
    return this.limiter.decide(charges);
  }

  protected getPolicies(context: ExecutionContext): ScopedPolicy[] {
    const handler = context.getHandler();
    let policies = this.routes.get(handler);
    if (policies === undefined) {
      policies = compileRoutePolicies(this.reflector, context.getClass(), handler, this.limiter.settings);
      this.routes.set(handler, policies);
    }
    return policies ?? [];
  }

  /** As the HTTP guard: `k:` for `by()`, `u:` for the user, `ip:` for the address. */
  protected async getIdentity(context: ExecutionContext, peer: TransportPeer, policy: ResolvedPolicy): Promise<string | undefined> {
    const settings = this.limiter.settings;
    return subjectOf(context, policy, peer.user, () => clientAddress(peer.address, peer.forwardedFor, settings.trustProxyHops), settings.ipv6Subnet);
  }

  protected buildKey(subject: string, policy: ScopedPolicy): string {
    return rateLimitKey(subject, policy);
  }
}

// Messages (their handler's argument list, one per message and shared by every guard that runs
// for it) a transport guard already decided: each is limited once.
const decidedMessages = new WeakSet<object>();
