import type { Provider } from '@nestjs/common';
import { REDIS_MODULE_OPTIONS } from '../connection/redis.tokens.js';
import { RATE_LIMIT_OPTIONS, RateLimitGuard } from './rate-limit.guard.js';
import { resolveRateLimitModuleOptions, type RateLimitModuleOptions } from './rate-limit.options.js';

/** The `rateLimit` options (resolved at start-up, so bad ones stop it) and the guard, for APP_GUARD `useExisting`. */
export function rateLimitProviders(): Provider[] {
  return [
    {
      provide: RATE_LIMIT_OPTIONS,
      useFactory: (options: { rateLimit?: RateLimitModuleOptions } | undefined) => resolveRateLimitModuleOptions(options?.rateLimit),
      inject: [REDIS_MODULE_OPTIONS],
    },
    RateLimitGuard,
  ];
}
