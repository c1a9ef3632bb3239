import type { IncomingMessage, ServerResponse } from 'node:http';
import { All, Controller, Post, Req, Res, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { RateLimit } from 'nestjs-redis-kit';
import type { EdgeRequest } from '../edge-auth/edge-auth.middleware.js';
import { ProxyService } from './proxy.service.js';

type Incoming = IncomingMessage & EdgeRequest;

/**
 * The proxy as route handlers rather than raw middleware, so the global RateLimitGuard (and any
 * other guard) runs for proxied paths too.
 */
@Controller('api')
export class ProxyController {
  constructor(private readonly proxy: ProxyService) {}

  // Declared first so it wins over the catch-all. Guessing passwords is limited per address,
  // stricter than the API default, and the budget is shared by every gateway instance.
  @Post('auth/login')
  @RateLimit({ limit: 10, window: '1m', name: 'login', by: 'ip' })
  login(@Req() req: Incoming, @Res() res: ServerResponse): Promise<void> {
    return this.forward(req, res);
  }

  // Logging out must work while sessions cannot be checked: the demo revokes the presented session
  // by its id (journaled while Redis is away), so it cannot come back when Redis does.
  @Post('auth/logout')
  logout(@Req() req: Incoming, @Res() res: ServerResponse): Promise<void> {
    if (req.edgeAuthRejected) throw new UnauthorizedException('the session is not valid (expired or revoked)');
    return this.proxy.forward(req, res);
  }

  @All('*path')
  any(@Req() req: Incoming, @Res() res: ServerResponse): Promise<void> {
    return this.forward(req, res);
  }

  private forward(req: Incoming, res: ServerResponse): Promise<void> {
    if (req.edgeAuthRejected) throw new UnauthorizedException('the session is not valid (expired or revoked); log in again');
    if (req.edgeAuthUnavailable) throw new ServiceUnavailableException('the session cannot be checked right now; try again shortly');
    return this.proxy.forward(req, res);
  }
}
