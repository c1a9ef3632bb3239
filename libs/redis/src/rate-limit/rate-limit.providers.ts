import type { Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { REDIS_MODULE_OPTIONS } from '../connection/redis.tokens.js';
import { PASS_THROUGH_GUARD, RateLimitGuardCheck } from './rate-limit.guard-check.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { DEFAULT_DECISION_TIMEOUT_MS, resolveRateLimitModuleOptions, type RateLimitModuleOptions, type ResolvedRateLimitModuleOptions } from './rate-limit.options.js';
import { RATE_LIMIT_OPTIONS, RateLimiter } from './rate-limiter.service.js';

/**
 * The `rateLimit` options (resolved at start-up, so bad ones stop it), the `RateLimiter` every guard
 * and application code share (one block cache, one `'local'` store per app), and the HTTP guard, for
 * APP_GUARD `useExisting`.
 */
export function rateLimitProviders(): Provider[] {
  return [
    {
      provide: RATE_LIMIT_OPTIONS,
      useFactory: (options: { rateLimit?: RateLimitModuleOptions; commandTimeoutMs?: number } | undefined) => {
        const resolved = resolveRateLimitModuleOptions(options?.rateLimit);
        // The decision ceiling is never shorter than the connection's own deadline.
        if (options?.rateLimit?.decisionTimeoutMs === undefined) resolved.decisionTimeoutMs = Math.max(DEFAULT_DECISION_TIMEOUT_MS, options?.commandTimeoutMs ?? 0);
        return resolved;
      },
      inject: [REDIS_MODULE_OPTIONS],
    },
    RateLimiter,
    RateLimitGuard,
  ];
}

/**
 * Providers the module registers but does not export: `rateLimit.global`'s APP_GUARD (always
 * present, a pass-through when the option is off, since `forRootAsync` options are known only at
 * run time) and the start-up check for `@RateLimit` without a guard.
 */
export function rateLimitAppProviders(): Provider[] {
  return [
    {
      provide: APP_GUARD,
      useFactory: (settings: ResolvedRateLimitModuleOptions, guard: RateLimitGuard) => (settings.global ? guard : PASS_THROUGH_GUARD),
      inject: [RATE_LIMIT_OPTIONS, RateLimitGuard],
    },
    RateLimitGuardCheck,
  ];
}
