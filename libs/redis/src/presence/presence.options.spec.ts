import { describe, expect, it } from '@jest/globals';
import { RedisConfigError } from '../redis.errors.js';
import { resolvePresenceOptions } from './presence.options.js';

describe('presence options', () => {
  it('defaults to a 30 s ttl and a 10 s heartbeat, and reads durations', () => {
    expect(resolvePresenceOptions(undefined)).toEqual({ ttlMs: 30_000, heartbeatMs: 10_000 });
    expect(resolvePresenceOptions({ ttl: '2s', heartbeat: 500 })).toEqual({ ttlMs: 2_000, heartbeatMs: 500 });
  });

  it('names every problem at once', () => {
    let error: unknown;
    try {
      resolvePresenceOptions({ ttl: 'x', heartbeat: -1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RedisConfigError);
    expect((error as RedisConfigError).problems).toEqual([expect.stringMatching(/^presence\.ttl must be milliseconds/), expect.stringMatching(/^presence\.heartbeat must be a non-negative/)]);
  });

  it('refuses a heartbeat that is not shorter than the ttl', () => {
    expect(() => resolvePresenceOptions({ ttl: '1s', heartbeat: '1s' })).toThrow(/presence\.heartbeat \(1000 ms\) must be shorter than presence\.ttl \(1000 ms\)/);
  });
});
