import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { RedisHealthIndicator } from 'nestjs-redis-kit/health';

/**
 * Liveness answers from the process alone, so an orchestrator never restarts an instance because
 * Redis is down; readiness includes Redis and reads `degraded` (HTTP 200) while serving from memory.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly redis: RedisHealthIndicator,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.redis.isHealthy('redis', { timeoutMs: 1_000 })]);
  }
}
