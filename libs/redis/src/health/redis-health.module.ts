import { Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { REDIS_HEALTH_OPTIONS, type RedisHealthModuleOptions } from './redis-health.options.js';
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
export class RedisHealthModule {
  /**
   * The same module with options: `RedisHealthModule.forRoot({ embedded: 'up' })` reports the
   * embedded store (no Redis configured, by design) as `up` instead of `degraded`.
   */
  static forRoot(options: RedisHealthModuleOptions = {}): DynamicModule {
    if (options.embedded !== undefined && options.embedded !== 'up' && options.embedded !== 'degraded') {
      throw new Error(`RedisHealthModule: embedded must be 'up' or 'degraded' (got ${JSON.stringify(options.embedded)})`);
    }
    return { module: RedisHealthModule, providers: [{ provide: REDIS_HEALTH_OPTIONS, useValue: options }], exports: [RedisHealthIndicator] };
  }
}
