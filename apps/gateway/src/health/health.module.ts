import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RedisHealthModule } from 'nestjs-redis-kit/health';
import { RedisMetricsModule } from 'nestjs-redis-kit/metrics';
import { upstreamProviders } from '../upstream.config.js';
import { HealthController } from './health.controller.js';
import { UpstreamHealthIndicator } from './upstream.health.js';

/** `/health`, `/health/live`, `/health/ready` (Redis and the upstreams) and the Prometheus scrape endpoint `/metrics`. */
@Module({
  imports: [TerminusModule, RedisHealthModule, RedisMetricsModule.forRoot({ path: '/metrics' })],
  controllers: [HealthController],
  providers: [UpstreamHealthIndicator, ...upstreamProviders],
  // Re-exported so the status page reads the same exporter (one registry, one Redis sampler).
  exports: [RedisMetricsModule],
})
export class HealthModule {}
