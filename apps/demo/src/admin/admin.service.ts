import { Injectable } from '@nestjs/common';
import { CacheService, RedisConnection, SessionService } from 'nestjs-redis-kit';
import { RedisMetricsExporter } from 'nestjs-redis-kit/metrics';
import { RecommendationsService } from '../recommendations/recommendations.service.js';

const RATE_LIMIT_METRIC = 'redis_kit_rate_limit_decisions_total';

@Injectable()
export class AdminService {
  constructor(
    private readonly connection: RedisConnection,
    private readonly cache: CacheService,
    private readonly sessions: SessionService,
    private readonly metrics: RedisMetricsExporter,
    private readonly recommendations: RecommendationsService,
  ) {}

  async stats() {
    const [sessions, rateLimit] = await Promise.all([this.sessions.stats({ top: 10 }), this.rateLimitStats()]);
    return {
      connection: {
        status: this.connection.status(),
        // 'redis'; 'fallback' while Redis is away; 'embedded' without Redis; 'unavailable' with fallback: 'none'.
        engine: this.connection.engine.mode(),
        redisConfigured: this.connection.client !== null,
      },
      cache: {
        trips: this.cache.namespace('trips').stats(),
        recommendations: { ...this.cache.namespace('recommendations').stats(), computationsOnThisInstance: this.recommendations.computations },
      },
      sessions,
      rateLimit,
    };
  }

  /** This instance's decisions per policy, read back from the Prometheus counters it already keeps. */
  private async rateLimitStats(): Promise<Record<string, { allowed: number; refused: number }>> {
    const metric = this.metrics.registry.getSingleMetric(RATE_LIMIT_METRIC);
    const out: Record<string, { allowed: number; refused: number }> = {};
    if (!metric) return out;
    for (const v of (await metric.get()).values) {
      const policy = String(v.labels.policy ?? 'unknown');
      const outcome = v.labels.outcome === 'refused' ? 'refused' : 'allowed';
      out[policy] ??= { allowed: 0, refused: 0 };
      out[policy][outcome] += v.value;
    }
    return out;
  }
}
