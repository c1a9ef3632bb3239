import type { IncomingMessage, ServerResponse } from 'node:http';
import { All, Controller, Req, Res, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import type { EdgeRequest } from '../edge-auth/edge-auth.middleware.js';
import { SocketIoProxy } from './socket-io.proxy.js';

type Incoming = IncomingMessage & EdgeRequest;

/**
 * Socket.IO's long-polling requests, as route handlers so the global rate limit and the edge session
 * check apply to them as to `/api`. The WebSocket upgrade does not pass through Nest's routing: the
 * proxy takes it from the HTTP server's `upgrade` event and applies the same checks itself.
 */
@Controller('socket.io')
export class SocketIoController {
  constructor(private readonly proxy: SocketIoProxy) {}

  @All(['', '*path'])
  poll(@Req() req: Incoming, @Res() res: ServerResponse): void {
    if (req.edgeAuthRejected) throw new UnauthorizedException('the session is not valid (expired or revoked); log in again');
    if (req.edgeAuthUnavailable) throw new ServiceUnavailableException('the session cannot be checked right now; try again shortly');
    this.proxy.forward(req, res);
  }
}
