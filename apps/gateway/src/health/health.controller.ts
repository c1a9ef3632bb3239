import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { SkipRateLimit } from 'nestjs-redis-kit';
import { RedisHealthIndicator } from 'nestjs-redis-kit/health';
import { UpstreamHealthIndicator } from './upstream.health.js';

/**
 * `/health` is the aggregate (the same checks as readiness, for people and monitors).
 * Liveness answers from the process alone, so an orchestrator never restarts an instance because
 * Redis or the demo is down; readiness includes both (Redis reads `degraded`, HTTP 200, while
 * serving from memory; an unreachable upstream makes the gateway not ready).
 */
@Controller('health')
// Probes come from the orchestrator every few seconds: they must never be refused with 429.
@SkipRateLimit()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly redis: RedisHealthIndicator,
    private readonly upstream: UpstreamHealthIndicator,
  ) {}

  /**
   * The aggregate a monitor or a person reads: Redis (latency, topology, memory against maxmemory;
   * `degraded` on the memory fallback) and every upstream. 200 while serving, 503 when a part is down.
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
    return this.health.check([
      () => this.redis.isHealthy('redis', { timeoutMs: 1_000 }),
      () => this.upstream.isHealthy('upstream', { timeoutMs: 1_000 }),
    ]);
  }
}
