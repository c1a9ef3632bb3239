import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RedisHealthIndicator } from './redis.health.js';

/**
 * Import next to `RedisModule` to inject `RedisHealthIndicator` into a Terminus health controller.
 * Kept out of the main entry point (`nestjs-redis-kit/health`) because Terminus is an optional peer.
 */
@Module({
  imports: [TerminusModule],
  providers: [RedisHealthIndicator],
  exports: [RedisHealthIndicator],
})
export class RedisHealthModule {}
