import type { RateLimitMessage, RateLimitRefusal, ResolvedRateLimitModuleOptions } from './rate-limit.options.js';
import { UNAVAILABLE_RETRY_MS, type RateLimitDecision, type ScopedPolicy } from './rate-limiter.service.js';
import { msToRetryAfterSeconds } from './rate-limit.headers.js';

/** What a refused client is told, whatever the transport; the guards wrap it in their error shape. */
export interface RefusalBody extends Record<string, unknown> {
  statusCode: number;
  error: string;
  message: unknown;
  policy?: string;
  retryAfter: number;
}

const DEFAULT_MESSAGE = 'Rate limit "{policy}" exceeded; retry in {retryAfter} s';

/**
 * The body of a refusal: `{ statusCode, error, message, policy, retryAfter }`. For a 429, `message`
 * comes from the refusing policy's `message`, else `rateLimit.message`, else the default; a message
 * function may return the whole body instead. A 503 (a `'closed'` policy could not be checked) keeps
 * its fixed message: it is no refusal of the client.
 */
export function refusalBody(decision: RateLimitDecision, settings: ResolvedRateLimitModuleOptions, policies?: readonly ScopedPolicy[]): Record<string, unknown> {
  const name = decision.refusedBy?.name;
  const retryAfter = Math.max(1, msToRetryAfterSeconds(decision.refusedBy?.retryMs || UNAVAILABLE_RETRY_MS));
  if (decision.status === 503) {
    return { statusCode: 503, error: 'Service Unavailable', message: `Rate limit "${name}" cannot be checked right now`, policy: name, retryAfter };
  }
  const refusal: RateLimitRefusal = {
    policy: name ?? '',
    limit: decision.refusedBy?.limit ?? 0,
    windowMs: decision.refusedBy?.windowMs ?? 0,
    retryAfter,
    status: decision.status,
  };
  const own = policies?.find((p) => p.name === name)?.message;
  const configured: RateLimitMessage = own ?? settings.message ?? DEFAULT_MESSAGE;
  if (typeof configured === 'function') {
    const produced = configured(refusal);
    if (produced !== null && typeof produced === 'object') return produced;
    return { statusCode: 429, error: 'Too Many Requests', message: produced, policy: name, retryAfter };
  }
  return { statusCode: 429, error: 'Too Many Requests', message: fillTemplate(configured, refusal), policy: name, retryAfter };
}

function fillTemplate(template: string, r: RateLimitRefusal): string {
  return template.replace(/\{(policy|limit|window|retryAfter)\}/g, (_, k: string) => {
    if (k === 'policy') return r.policy;
    if (k === 'limit') return String(r.limit);
    if (k === 'window') return String(Math.max(1, Math.ceil(r.windowMs / 1000)));
    return String(r.retryAfter);
  });
}
