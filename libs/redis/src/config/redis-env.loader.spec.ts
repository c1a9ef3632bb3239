import { describe, expect, it } from '@jest/globals';
import { RedisConfigError } from '../redis.errors.js';
import { redisOptionsFromEnv } from './redis-env.loader.js';

const SECRET = 'pa55-w0rd-never-logged';

function problem(env: Record<string, string>): string {
  try {
    redisOptionsFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(RedisConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain(SECRET);
    return message;
  }
  throw new Error('expected a configuration error');
}

describe('redisOptionsFromEnv', () => {
  it('selects the embedded store when nothing is configured', () => {
    expect(redisOptionsFromEnv({})).toEqual({});
    expect(redisOptionsFromEnv({ REDIS_URL: '', REDIS_HOST: '   ', REDIS_PASSWORD: '' })).toEqual({});
  });

  it('reads a URL, credentials and a key prefix', () => {
    expect(
      redisOptionsFromEnv({ REDIS_URL: `rediss://app:${SECRET}@cache.internal:6380/2`, REDIS_KEY_PREFIX: 'shop:', REDIS_TLS: 'TRUE', REDIS_COMMAND_TIMEOUT_MS: '150', REDIS_FALLBACK: 'none' }),
    ).toEqual({ url: `rediss://app:${SECRET}@cache.internal:6380/2`, keyPrefix: 'shop:', tls: true, commandTimeoutMs: 150, fallback: 'none' });
  });

  it('reads host, port, user, password, db', () => {
    expect(redisOptionsFromEnv({ REDIS_HOST: '10.0.0.5', REDIS_PORT: '6390', REDIS_USERNAME: 'app', REDIS_PASSWORD: SECRET, REDIS_DB: '3', REDIS_TLS: 'false' })).toEqual({
      host: '10.0.0.5',
      port: 6390,
      username: 'app',
      password: SECRET,
      db: 3,
      tls: false,
    });
    expect(redisOptionsFromEnv({ REDIS_HOST: '[::1]', REDIS_PORT: '6379' })).toEqual({ host: '::1', port: 6379 });
  });

  it('reads sentinels and cluster nodes, IPv6 included', () => {
    expect(redisOptionsFromEnv({ REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'mymaster' })).toEqual({
      sentinel: { name: 'mymaster', sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }] },
    });
    expect(redisOptionsFromEnv({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001' })).toEqual({ cluster: { nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }] } });
  });

  it('reads a ConfigService-like source', () => {
    const config = { get: (key: string) => ({ REDIS_HOST: 'redis', REDIS_PORT: 6379 })[key] };
    expect(redisOptionsFromEnv(config)).toEqual({ host: 'redis', port: 6379 });
  });

  it.each([
    [{ REDIS_PORT: 'abc' }, 'REDIS_PORT must be an integer from 1 to 65535 (got "abc")'],
    [{ REDIS_PORT: '70000' }, 'REDIS_PORT must be an integer from 1 to 65535 (got "70000")'],
    [{ REDIS_PORT: '0' }, 'REDIS_PORT must be an integer from 1 to 65535 (got "0")'],
    [{ REDIS_URL: `http://u:${SECRET}@host:6379` }, 'REDIS_URL must be a redis:// or rediss:// URL'],
    [{ REDIS_URL: `redis://u:${SECRET}@:6379/x` }, 'REDIS_URL must be a redis:// or rediss:// URL'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
    [{ REDIS_TLS: 'maybe' }, 'REDIS_TLS must be true or false (got "maybe")'],
    [{ REDIS_DB: '-1' }, 'REDIS_DB must be a non-negative integer (got "-1")'],
    [{ REDIS_CLUSTER_NODES: 'a:7000', REDIS_URL: 'redis://localhost' }, 'REDIS_CLUSTER_NODES and REDIS_URL are both set'],
    [{ REDIS_SENTINELS: 'a:26379' }, 'REDIS_SENTINELS is set but REDIS_SENTINEL_NAME is missing'],
    [{ REDIS_SENTINEL_NAME: 'mymaster' }, 'REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is missing'],
    [{ REDIS_SENTINELS: 'a', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS must be a comma-separated list of host:port (got "a")'],
    [{ REDIS_CLUSTER_NODES: 'a:7000', REDIS_DB: '2' }, 'REDIS_DB cannot be used with REDIS_CLUSTER_NODES'],
    [{ REDIS_KEY_PREFIX: 'app:{x}' }, 'REDIS_KEY_PREFIX must not contain'],
    [{ REDIS_FALLBACK: 'disk' }, "REDIS_FALLBACK must be 'memory' or 'none' (got \"disk\")"],
  ])('rejects %j naming the variable', (env, expected) => {
    expect(problem(env as Record<string, string>)).toContain(expected);
  });

  it('reports every problem in one message', () => {
    const message = problem({ REDIS_PORT: 'x', REDIS_TLS: 'maybe', REDIS_PASSWORD: SECRET });
    expect(message).toMatch(/^Invalid Redis configuration:\n- /);
    expect(message).toContain('REDIS_PORT');
    expect(message).toContain('REDIS_TLS');
  });
});
