import { SetMetadata } from '@nestjs/common';
import type { RateLimitOptions } from './rate-limit.options.js';

export const RATE_LIMIT_POLICIES = 'nestjs-redis-kit:rate-limit:policies';
export const RATE_LIMIT_SKIP = 'nestjs-redis-kit:rate-limit:skip';

/**
 * Adds a rate-limit policy to a handler or a controller. Stack it for several policies: all of a
 * request's policies are checked in one Redis call and charged only if every one allows it.
 * Policies on a controller share one budget across its handlers; policies on a handler have their own.
 */
export function RateLimit(options: RateLimitOptions): ClassDecorator & MethodDecorator {
  return (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    // Metadata lives on the method for handlers and on the class for controllers, as SetMetadata does.
    const holder = descriptor ? (descriptor.value as object) : target;
    const existing = (Reflect.getMetadata(RATE_LIMIT_POLICIES, holder) as RateLimitOptions[] | undefined) ?? [];
    // Decorators apply bottom-up; prepending keeps the list in reading order.
    Reflect.defineMetadata(RATE_LIMIT_POLICIES, [options, ...existing], holder);
    return descriptor as never;
  };
}

/** Exempts a handler or a whole controller from every rate-limit policy, module defaults included. */
export const SkipRateLimit = (): ClassDecorator & MethodDecorator => SetMetadata(RATE_LIMIT_SKIP, true);
