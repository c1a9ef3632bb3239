import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RedisHealthModule } from 'nestjs-redis-kit/health';
import { RedisMetricsModule } from 'nestjs-redis-kit/metrics';
import { HealthController } from './health.controller.js';

/** `/health`, `/health/live`, `/health/ready` and the Prometheus scrape endpoint `/metrics`. */
@Module({
  imports: [TerminusModule, RedisHealthModule, RedisMetricsModule.forRoot({ path: '/metrics' })],
  controllers: [HealthController],
  // Re-exported so /admin/stats can read the counters the exporter keeps.
  exports: [RedisMetricsModule],
})
export class HealthModule {}
