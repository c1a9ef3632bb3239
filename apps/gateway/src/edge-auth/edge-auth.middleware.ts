import { Injectable, type NestMiddleware } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { RedisConnection, SessionService, SessionUnavailableError, TokenDenylist } from 'nestjs-redis-kit';

/** What the edge knows about the caller; `user` is what RateLimitGuard keys per-user budgets on. */
export interface EdgeRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: { id: string; role: 'admin' | 'member' };
  /** A Bearer session was presented and is not valid (unknown, expired, revoked). */
  edgeAuthRejected?: boolean;
  /** A Bearer session was presented and could not be checked (Redis away): 503, not 401. */
  edgeAuthUnavailable?: boolean;
}

/** Must match the demo's deny-list entries (apps/demo/src/auth/auth.user.ts). */
const DENYLIST_ISSUER = 'nestjs-redis-kit-demo';
const sessionJti = (sessionId: string): string => createHash('sha256').update(sessionId).digest('base64url');

/**
 * Validates the caller's session at the edge, against the Redis the demo writes sessions to, so a
 * revoked session is refused here on its next request, whichever gateway instance it reaches.
 * It only establishes identity; rejection happens in the proxy handler, after the rate limit, so
 * floods of bad tokens are still limited (per IP, since they carry no valid user).
 */
@Injectable()
export class EdgeAuthMiddleware implements NestMiddleware {
  constructor(
    private readonly connection: RedisConnection,
    private readonly sessions: SessionService,
    private readonly denylist: TokenDenylist,
  ) {}

  async use(req: EdgeRequest, _res: unknown, next: (error?: unknown) => void): Promise<void> {
    try {
      const sessionId = bearer(req.headers.authorization);
      // Without Redis each process has its own embedded store and cannot see the demo's sessions:
      // the demo, which holds them, validates the Bearer itself.
      if (sessionId && this.connection.client !== null) {
        try {
          const [session, denied] = await Promise.all([
            this.sessions.validate<{ role?: string }>(sessionId),
            this.denylist.isDenied({ jti: sessionJti(sessionId), iss: DENYLIST_ISSUER }),
          ]);
          if (session && !denied) req.user = { id: session.userId, role: session.data?.role === 'admin' ? 'admin' : 'member' };
          else req.edgeAuthRejected = true;
        } catch (error) {
          // "Could not check" is not "invalid": the client keeps its session and retries later.
          if (!(error instanceof SessionUnavailableError)) throw error;
          req.edgeAuthUnavailable = true;
        }
      }
      next();
    } catch (error) {
      next(error);
    }
  }
}

function bearer(raw: string | string[] | undefined): string | undefined {
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value ? /^Bearer\s+(\S+)$/i.exec(value)?.[1] : undefined;
}
