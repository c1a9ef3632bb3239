import { timingSafeEqual } from 'node:crypto';
import { ForbiddenException, Inject, Injectable, ServiceUnavailableException, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { SessionService, SessionUnavailableError, TokenDenylist } from 'nestjs-redis-kit';
import {
  bearerToken,
  DENYLIST_ISSUER,
  GATEWAY_AUTH_HEADER,
  GATEWAY_ROLE_HEADER,
  GATEWAY_USER_HEADER,
  sessionJti,
  type AuthRequest,
  type AuthUser,
  type SessionData,
} from './auth.user.js';

/** The secret the gateway sends in `X-Gateway-Auth`; null = no gateway is trusted. */
export const GATEWAY_SECRET = Symbol('GATEWAY_SECRET');

function header(req: AuthRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Requires a caller. Two ways in:
 * - from the gateway, which has validated the session at the edge: `X-User-Id` is believed only
 *   together with `X-Gateway-Auth` equal to GATEWAY_SHARED_SECRET (compared in constant time), so a
 *   client talking to the demo directly cannot claim to be anyone;
 * - directly, with `Authorization: Bearer <sessionId>`, validated here against the same store.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly sessions: SessionService,
    private readonly denylist: TokenDenylist,
    @Inject(GATEWAY_SECRET) private readonly gatewaySecret: Buffer | null,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthRequest>();
    const user = this.fromGateway(req) ?? (await this.fromSession(req));
    if (!user) throw new UnauthorizedException('a valid session is required: Authorization: Bearer <sessionId> from POST /auth/login');
    req.user = user;
    return true;
  }

  private fromGateway(req: AuthRequest): AuthUser | undefined {
    if (!this.gatewaySecret) return undefined;
    const presented = header(req, GATEWAY_AUTH_HEADER);
    const userId = header(req, GATEWAY_USER_HEADER);
    if (!presented || !userId) return undefined;
    const given = Buffer.from(presented);
    if (given.length !== this.gatewaySecret.length || !timingSafeEqual(given, this.gatewaySecret)) return undefined;
    return { id: userId, role: header(req, GATEWAY_ROLE_HEADER) === 'admin' ? 'admin' : 'member', sessionId: bearerToken(req.headers) };
  }

  private async fromSession(req: AuthRequest): Promise<AuthUser | undefined> {
    const sessionId = bearerToken(req.headers);
    if (!sessionId) return undefined;
    let session;
    let denied;
    try {
      [session, denied] = await Promise.all([
        this.sessions.validate<SessionData>(sessionId),
        this.denylist.isDenied({ jti: sessionJti(sessionId), iss: DENYLIST_ISSUER }),
      ]);
    } catch (error) {
      // "Could not check" is not "invalid": 503, and the client keeps its session.
      if (error instanceof SessionUnavailableError) throw new ServiceUnavailableException('the session cannot be checked right now; try again shortly');
      throw error;
    }
    if (!session || denied) return undefined;
    return { id: session.userId, role: session.data?.role === 'admin' ? 'admin' : 'member', sessionId };
  }
}

/** Admin-only routes; runs after AuthGuard. */
@Injectable()
export class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const user = context.switchToHttp().getRequest<AuthRequest>().user;
    if (user?.role !== 'admin') throw new ForbiddenException('this route needs an admin session');
    return true;
  }
}
