import { Injectable, type ExecutionContext } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { TransportRateLimitGuard, type TransportPeer } from '../rate-limit/rate-limit.transport-guard.js';
import type { RateLimitDecision } from '../rate-limit/rate-limiter.service.js';

interface RpcContextLike {
  /** TCP: `TcpContext.getSocket()` is a JSON socket over a `net.Socket`. */
  getSocket?: () => { socket?: { remoteAddress?: string } } | undefined;
}

/**
 * `@RateLimit` on microservice handlers (`@MessagePattern`, `@EventPattern`). The subject is the
 * payload's `user` (`{ id }` or `{ sub }`) when present, else the peer address the transport knows
 * (TCP: the client socket's address; other transports: `unknown`, so use `by(ctx)` there, e.g.
 * `ctx.switchToRpc().getData().tenantId`). A refused call throws `RpcException({ status: 'error',
 * statusCode: 429, error, message, policy, retryAfter })`: a `ClientProxy.send()` observable errors
 * with that object; the handler does not run.
 */
@Injectable()
export class RpcRateLimitGuard extends TransportRateLimitGuard {
  // A getter, so the start-up guard check can read it from the class.
  protected get contextType(): string {
    return 'rpc';
  }

  protected getPeer(context: ExecutionContext): TransportPeer {
    const rpc = context.switchToRpc();
    const data = rpc.getData<{ user?: unknown } | null | undefined>();
    const ctx = rpc.getContext<RpcContextLike | undefined>();
    let address: string | undefined;
    try {
      address = typeof ctx?.getSocket === 'function' ? ctx.getSocket()?.socket?.remoteAddress : undefined;
    } catch {
      address = undefined;
    }
    return { user: data !== null && typeof data === 'object' ? data.user : undefined, address };
  }

  protected refuse(body: Record<string, unknown>, _decision: RateLimitDecision, _context: ExecutionContext): never {
    throw new RpcException({ status: 'error', ...body });
  }
}
