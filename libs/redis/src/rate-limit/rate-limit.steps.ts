import type { ExecutionContext } from '@nestjs/common';
import { encodeSubject, normalizeAddress } from './rate-limit.identity.js';
import { checkCost, RateLimitConfigError, type ResolvedPolicy } from './rate-limit.options.js';
import type { RateLimitCharge, ScopedPolicy } from './rate-limiter.service.js';

/**
 * The charges of one request or message, whatever the transport: each policy's subject (undefined
 * = the policy does not apply), its cost (a `cost()` function checked against the limit) and key.
 * The HTTP and transport guards pass their own overridable `getIdentity` and `buildKey`.
 */
export async function chargesOf(
  context: ExecutionContext,
  policies: readonly ScopedPolicy[],
  identify: (policy: ScopedPolicy) => Promise<string | undefined>,
  keyOf: (subject: string, policy: ScopedPolicy) => string,
): Promise<RateLimitCharge[]> {
  const charges: RateLimitCharge[] = [];
  for (const policy of policies) {
    const subject = await identify(policy);
    if (subject === undefined) continue;
    let cost = policy.cost;
    if (typeof cost === 'function') {
      cost = cost(context);
      checkCost(cost, policy.limit, `@RateLimit "${policy.name}" cost()`);
    }
    charges.push({ policy, key: keyOf(subject, policy), subject, cost });
  }
  return charges;
}

/**
 * A policy's subject, prefixed by its kind so a user id can never equal an address: `k:` for
 * `by()`, `u:` for the user (`{ id }` or `{ sub }`), `ip:` for the address (read only when needed).
 * Undefined for `'user'` when there is no user.
 */
export async function subjectOf(context: ExecutionContext, policy: ResolvedPolicy, user: unknown, address: () => string | undefined, ipv6Subnet: number): Promise<string | undefined> {
  const by = policy.by;
  if (typeof by === 'function') {
    const value = await by(context);
    if (typeof value !== 'string' || value.length === 0) throw new RateLimitConfigError(`@RateLimit "${policy.name}": by() must return a non-empty string`);
    return `k:${encodeSubject(value)}`;
  }
  if (by !== 'ip') {
    const u = user as { id?: unknown; sub?: unknown } | undefined | null;
    const id = u?.id ?? u?.sub;
    if ((typeof id === 'string' && id.length > 0) || typeof id === 'number') return `u:${encodeSubject(String(id))}`;
    if (by === 'user') return undefined;
  }
  return `ip:${normalizeAddress(address(), ipv6Subnet) ?? 'unknown'}`;
}
