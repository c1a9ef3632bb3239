import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { EdgeAuthMiddleware } from '../edge-auth/edge-auth.middleware.js';
import { upstreamProviders } from '../upstream.config.js';
import { ProxyController } from './proxy.controller.js';
import { ProxyService } from './proxy.service.js';
import { SocketIoController } from './socket-io.controller.js';
import { SocketIoProxy } from './socket-io.proxy.js';

@Module({
  controllers: [ProxyController, SocketIoController],
  providers: [ProxyService, SocketIoProxy, EdgeAuthMiddleware, ...upstreamProviders],
})
export class ProxyModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Middleware runs before guards: the rate limit can then key on the validated user.
    consumer.apply(EdgeAuthMiddleware).forRoutes(ProxyController, SocketIoController);
  }
}
