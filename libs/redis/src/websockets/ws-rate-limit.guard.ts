import { Injectable, type ExecutionContext } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { TransportRateLimitGuard, type TransportPeer } from '../rate-limit/rate-limit.transport-guard.js';
import type { RateLimitDecision } from '../rate-limit/rate-limiter.service.js';

interface SocketLike {
  user?: unknown;
  data?: { user?: unknown } | null;
  /** Socket.IO */
  handshake?: { address?: string; headers?: Record<string, string | string[] | undefined> };
  conn?: { remoteAddress?: string };
  /** The upgrade request, when the application kept it (e.g. `client.request = req` on connection). */
  request?: { user?: unknown; socket?: { remoteAddress?: string }; headers?: Record<string, string | string[] | undefined> };
  /** `ws` */
  _socket?: { remoteAddress?: string };
}

/**
 * `@RateLimit` on WebSocket gateway handlers (`@SubscribeMessage`), for `@nestjs/platform-ws` and
 * `@nestjs/platform-socket.io`. The subject is the user put on the socket (`client.user`, Socket.IO's
 * `client.data.user`, or `client.request.user`: `{ id }` or `{ sub }`), else the peer address of the
 * handshake (`X-Forwarded-For` of the handshake only with `rateLimit.trustProxy`), or `by(ctx)`.
 * A refused message throws `WsException({ status: 'error', statusCode: 429, error, message, policy,
 * retryAfter })`, which Nest's WebSocket exception filter sends as the `exception` event; the
 * handler does not run. The connection stays open.
 *
 * ```ts
 * @WebSocketGateway() @UseGuards(WsRateLimitGuard)
 * class ChatGateway {
 *   @SubscribeMessage('say') @RateLimit({ limit: 20, window: '10s' })
 *   say(@MessageBody() text: string) {}
 * }
 * ```
 */
@Injectable()
export class WsRateLimitGuard extends TransportRateLimitGuard {
  // A getter, so the start-up guard check can read it from the class.
  protected get contextType(): string {
    return 'ws';
  }

  protected getPeer(context: ExecutionContext): TransportPeer {
    const client = context.switchToWs().getClient<SocketLike>() ?? {};
    return {
      user: client.user ?? client.data?.user ?? client.request?.user,
      address: client.handshake?.address ?? client.conn?.remoteAddress ?? client.request?.socket?.remoteAddress ?? client._socket?.remoteAddress,
      forwardedFor: (client.handshake?.headers ?? client.request?.headers)?.['x-forwarded-for'],
    };
  }

  protected refuse(body: Record<string, unknown>, _decision: RateLimitDecision, _context: ExecutionContext): never {
    throw new WsException({ status: 'error', ...body });
  }
}
