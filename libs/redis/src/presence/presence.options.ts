import { toMs, type Duration } from '../duration.js';
import { RedisConfigError } from '../redis.errors.js';

/** The `presence` section of `RedisModule.forRoot`. */
export interface PresenceOptions {
  /**
   * How long a socket stays listed without a heartbeat from its instance: a crashed instance's
   * sockets vanish within this (default `'30s'`).
   */
  ttl?: Duration;
  /**
   * How often each instance refreshes its live sockets in Redis (default `'10s'`). Must be shorter
   * than `ttl`; a third of it or less lets a heartbeat be missed without anyone flickering offline.
   */
  heartbeat?: Duration;
}

/** Defaults of the `presence` section. */
export const PRESENCE_DEFAULTS = { ttl: '30s', heartbeat: '10s' } as const satisfies Required<PresenceOptions>;

export interface ResolvedPresenceOptions {
  ttlMs: number;
  heartbeatMs: number;
}

/** Reads and checks the section; a bad value stops start-up with a message naming the option. */
export function resolvePresenceOptions(options: PresenceOptions | undefined): ResolvedPresenceOptions {
  const problems: string[] = [];
  const read = (value: Duration, what: string): number => {
    try {
      return toMs(value, what);
    } catch (error) {
      problems.push(...(error as RedisConfigError).problems);
      return Number.NaN;
    }
  };
  const ttlMs = read(options?.ttl ?? PRESENCE_DEFAULTS.ttl, 'presence.ttl');
  const heartbeatMs = read(options?.heartbeat ?? PRESENCE_DEFAULTS.heartbeat, 'presence.heartbeat');
  if (ttlMs < 100) problems.push(`presence.ttl must be at least 100 ms (got ${ttlMs})`);
  if (heartbeatMs < 10) problems.push(`presence.heartbeat must be at least 10 ms (got ${heartbeatMs})`);
  if (Number.isFinite(ttlMs) && Number.isFinite(heartbeatMs) && heartbeatMs >= ttlMs) {
    problems.push(`presence.heartbeat (${heartbeatMs} ms) must be shorter than presence.ttl (${ttlMs} ms), or live sockets would expire between heartbeats`);
  }
  if (problems.length > 0) throw new RedisConfigError(problems);
  return { ttlMs, heartbeatMs };
}
