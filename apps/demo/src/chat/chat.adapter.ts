import type { INestApplication } from '@nestjs/common';
import { RedisIoAdapter } from 'nestjs-redis-kit/socket.io';

/**
 * Socket.IO on the managed Redis connection, sockets authenticated by their session (`auth.token`
 * or the session cookie). main.ts and the tests boot the demo through this one function.
 */
export function useSocketIo(app: INestApplication): INestApplication {
  return app.useWebSocketAdapter(new RedisIoAdapter(app, { authenticate: true }));
}
