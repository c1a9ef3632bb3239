import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { EdgeAuthMiddleware } from '../edge-auth/edge-auth.middleware.js';
import { upstreamProviders } from '../upstream.config.js';
import { ProxyController } from './proxy.controller.js';
import { ProxyService } from './proxy.service.js';

@Module({
  controllers: [ProxyController],
  providers: [ProxyService, ...upstreamProviders],
})
export class ProxyModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Middleware runs before guards: the rate limit can then key on the validated user.
    consumer.apply(EdgeAuthMiddleware).forRoutes(ProxyController);
  }
}
