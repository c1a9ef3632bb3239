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

  /**
   * The aggregate a monitor or a person reads: Redis with latency, topology and memory against
   * maxmemory (`degraded` on the memory fallback). 200 while serving, 503 when Redis is down.
   */
  @Get()
  @HealthCheck()
  aggregate() {
    return this.ready();
  }

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
