import type { Reflector } from '@nestjs/core';
import { MAX_POLICIES_PER_CALL } from '../engine/scripts/rate-limit.scripts.js';
import { RATE_LIMIT_POLICIES, RATE_LIMIT_SKIP } from './rate-limit.decorator.js';
import { RateLimitConfigError, resolvePolicy, type RateLimitOptions, type ResolvedRateLimitModuleOptions } from './rate-limit.options.js';
import type { ScopedPolicy } from './rate-limiter.service.js';

const defaultsCache = new WeakMap<ResolvedRateLimitModuleOptions, ScopedPolicy[]>();

/** The module's `rateLimit.defaults`, resolved once per options object (scope `g`: one budget across every guarded handler). */
export function defaultPolicies(settings: ResolvedRateLimitModuleOptions): ScopedPolicy[] {
  let list = defaultsCache.get(settings);
  if (!list) {
    list = settings.defaults.map((p, i) => ({ ...resolvePolicy(p, `rateLimit.defaults[${i}]`), scope: 'g' }));
    defaultsCache.set(settings, list);
  }
  return list;
}

/**
 * The policies of a handler: module defaults, then the class's, then the handler's; a later policy
 * replaces one of the same name. Null when `@SkipRateLimit` exempts it. Shared by the HTTP, WebSocket
 * and RPC guards, so one `@RateLimit` means the same budget whatever the transport.
 */
export function compileRoutePolicies(reflector: Reflector, controller: Function, handler: Function, settings: ResolvedRateLimitModuleOptions): ScopedPolicy[] | null {
  if (reflector.getAllAndOverride<boolean>(RATE_LIMIT_SKIP, [handler, controller])) return null;
  const byName = new Map<string, ScopedPolicy>();
  for (const p of defaultPolicies(settings)) byName.set(p.name, p);
  const levels: Array<[object, string]> = [
    [controller, controller.name],
    [handler, `${controller.name}.${handler.name}`],
  ];
  for (const [holder, scope] of levels) {
    const declared = (Reflect.getMetadata(RATE_LIMIT_POLICIES, holder) as RateLimitOptions[] | undefined) ?? [];
    const seen = new Set<string>();
    for (const options of declared) {
      const policy = { ...resolvePolicy(options, `@RateLimit on ${scope}`), scope };
      if (seen.has(policy.name)) throw new RateLimitConfigError(`@RateLimit on ${scope}: two policies are named "${policy.name}"; give each a distinct name`);
      seen.add(policy.name);
      byName.set(policy.name, policy);
    }
  }
  const policies = [...byName.values()];
  if (policies.length > MAX_POLICIES_PER_CALL) throw new RateLimitConfigError(`${controller.name}.${handler.name} has ${policies.length} rate-limit policies; at most ${MAX_POLICIES_PER_CALL}`);
  return policies;
}
