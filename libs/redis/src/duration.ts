import { RedisConfigError } from './redis.errors.js';

/**
 * A duration in milliseconds, or a string such as `'250ms'`, `'30s'`, `'15m'`, `'1h'`, `'7d'`.
 * Any `string` is accepted by the type (a value read from `ConfigService` is a `string`); it is
 * checked when the options are read, and a bad one stops start-up with a message naming the option.
 */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` | (string & {});

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Converts a duration to milliseconds. `what` names the option in the error, so a bad value is
 * reported as `cache.ttl must be ...` rather than a bare `invalid duration`.
 */
export function toMs(value: Duration, what = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RedisConfigError([`${what} must be a non-negative number of milliseconds (got ${value})`]);
    return value;
  }
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(String(value).trim());
  if (!match) throw new RedisConfigError([`${what} must be milliseconds or a string like '250ms', '30s', '15m', '1h', '7d' (got ${JSON.stringify(value)})`]);
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}
