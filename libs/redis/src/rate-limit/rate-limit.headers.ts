/** What one policy said about a request, as far as it is known. */
export interface PolicyOutcome {
  name: string;
  limit: number;
  windowMs: number;
  /** False when no limiter ran for this policy (a policy skipped by `'open'`, or not consulted). */
  known: boolean;
  allowed: boolean;
  remaining: number;
  /** Milliseconds until the quota is whole again. */
  resetMs: number;
  /** Milliseconds until the same request could pass; 0 when allowed. */
  retryMs: number;
}

const seconds = (ms: number) => Math.ceil(ms / 1000);

/**
 * `RateLimit-Policy` and `RateLimit` as Structured-Field lists (draft-ietf-httpapi-ratelimit-headers):
 * one member per policy, `"name";q=<quota>;w=<window s>` and `"name";r=<remaining>;t=<reset s>`.
 * Names are restricted to [A-Za-z0-9._-], so they need no escaping inside the sf-string.
 */
export function ratelimitPolicyField(outcomes: readonly PolicyOutcome[]): string {
  return outcomes.map((o) => `"${o.name}";q=${o.limit};w=${Math.max(1, seconds(o.windowMs))}`).join(', ');
}

export function ratelimitField(outcomes: readonly PolicyOutcome[]): string {
  return outcomes
    .filter((o) => o.known)
    .map((o) => `"${o.name}";r=${o.remaining};t=${seconds(o.resetMs)}`)
    .join(', ');
}

/** The policy legacy `X-RateLimit-*` headers describe: the one closest to refusing. */
export function tightest(outcomes: readonly PolicyOutcome[]): PolicyOutcome | undefined {
  let best: PolicyOutcome | undefined;
  for (const o of outcomes) {
    if (!o.known) continue;
    if (!best || o.remaining < best.remaining || (o.remaining === best.remaining && o.resetMs > best.resetMs)) best = o;
  }
  return best;
}

export { seconds as msToRetryAfterSeconds };
