import { describe, expect, it } from '@jest/globals';
import { RedisConfigError } from '../redis.errors.js';
import { redisOptionsFromEnv } from './redis-env.loader.js';

describe('redisOptionsFromEnv with a prefix (a second connection)', () => {
  const env = {
    REDIS_URL: 'redis://cache.internal:6379/0',
    REDIS_KEY_PREFIX: 'app:',
    SESSIONS_REDIS_URL: 'redis://sessions.internal:6380/0',
    SESSIONS_REDIS_KEY_PREFIX: 'auth:',
    SESSIONS_REDIS_COMMAND_TIMEOUT_MS: '800',
  };

  it('reads only the prefixed variables, with the same names after the prefix', () => {
    expect(redisOptionsFromEnv(env, { prefix: 'SESSIONS_' })).toEqual({ url: 'redis://sessions.internal:6380/0', keyPrefix: 'auth:', commandTimeoutMs: 800 });
    expect(redisOptionsFromEnv(env)).toEqual({ url: 'redis://cache.internal:6379/0', keyPrefix: 'app:' });
  });

  it('reads through a ConfigService-like get()', () => {
    const config = { get: (key: string) => (env as Record<string, string>)[key] };
    expect(redisOptionsFromEnv(config, { prefix: 'SESSIONS_' }).url).toBe('redis://sessions.internal:6380/0');
  });

  it('a bad value names the prefixed variable, in rules and in conflicts', () => {
    const bad = () => redisOptionsFromEnv({ SESSIONS_REDIS_PORT: 'x', SESSIONS_REDIS_URL: 'redis://a:1', SESSIONS_REDIS_HOST: 'b' }, { prefix: 'SESSIONS_' });
    expect(bad).toThrow(RedisConfigError);
    expect(bad).toThrow(/SESSIONS_REDIS_PORT must be an integer/);
    expect(bad).toThrow(/SESSIONS_REDIS_URL and SESSIONS_REDIS_HOST are both set/);
  });

  it('refuses a prefix that could not be a variable name', () => {
    expect(() => redisOptionsFromEnv(env, { prefix: 'A-B' })).toThrow(/prefix must contain only letters, digits and _/);
  });
});
