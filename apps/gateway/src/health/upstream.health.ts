import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { UPSTREAM_URLS } from '../upstream.config.js';

/**
 * The demo instances answer `/health/live`, each within `timeoutMs`. Up only when every upstream
 * does: round robin would send a share of requests to one that does not.
 */
@Injectable()
export class UpstreamHealthIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    @Inject(UPSTREAM_URLS) private readonly upstreams: string[],
  ) {}

  async isHealthy(key: string, { timeoutMs }: { timeoutMs: number }) {
    const session = this.indicator.check(key);
    const results = await Promise.all(
      this.upstreams.map(async (url) => {
        try {
          const response = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(timeoutMs) });
          await response.body?.cancel();
          return { url, status: response.ok ? 'up' : `HTTP ${response.status}` };
        } catch (error) {
          const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'unreachable';
          return { url, status: reason };
        }
      }),
    );
    const details = { upstreams: Object.fromEntries(results.map((r) => [r.url, r.status])) };
    return results.every((r) => r.status === 'up') ? session.up(details) : session.down(details);
  }
}
