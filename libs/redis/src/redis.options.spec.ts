import { describe, expect, it } from '@jest/globals';
import { RedisConfigError } from './redis.errors.js';
import { toMs } from './duration.js';
import { describeTarget, resolveRedisOptions } from './redis.options.js';

describe('toMs', () => {
  it.each([
    [250, 250],
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
  ] as const)('%j → %d ms', (input, expected) => {
    expect(toMs(input)).toBe(expected);
  });

  it('names the option in its error', () => {
    expect(() => toMs('soon' as never, 'cache.ttl')).toThrow(/cache\.ttl must be milliseconds or a string like/);
    expect(() => toMs(-5, 'window')).toThrow(/window must be a non-negative number/);
  });
});

describe('resolveRedisOptions', () => {
  it('uses the embedded store with no target and applies defaults', () => {
    const o = resolveRedisOptions({});
    expect(o.target).toEqual({ kind: 'none' });
    expect(o).toMatchObject({ fallback: 'memory', commandTimeoutMs: 300, keyPrefix: '' });
  });

  it('parses a URL without leaking its password into the description', () => {
    const o = resolveRedisOptions({ url: 'rediss://app:s3cret@cache:6380/4' });
    expect(o.target).toMatchObject({ kind: 'standalone', host: 'cache', port: 6380, db: 4, username: 'app', password: 's3cret', tls: {} });
    expect(describeTarget(o.target)).toBe('rediss://app@cache:6380/4');
  });

  it('rejects conflicting and malformed options with every problem named', () => {
    const attempt = () =>
      resolveRedisOptions({
        url: 'redis://x',
        cluster: { nodes: [{ host: 'a', port: 99999 }] },
        db: 2,
        commandTimeoutMs: 0,
        fallback: 'disk' as never,
        keyPrefix: 'a{b}',
      });
    expect(attempt).toThrow(RedisConfigError);
    try {
      attempt();
    } catch (error) {
      const problems = (error as RedisConfigError).problems;
      expect(problems).toEqual(
        expect.arrayContaining([
          'set only one of url, host, sentinel, cluster, client (got url and cluster)',
          'db cannot be used with cluster: Redis Cluster only has database 0',
          'commandTimeoutMs must be a positive integer (got 0)',
          "fallback must be 'memory' or 'none' (got \"disk\")",
          'cluster.nodes[0].port must be an integer from 1 to 65535 (got 99999)',
        ]),
      );
      expect(problems.some((p) => p.startsWith('keyPrefix must not contain'))).toBe(true);
    }
  });

  it('requires a sentinel group name and a client that is an ioredis instance', () => {
    expect(() => resolveRedisOptions({ sentinel: { name: '', sentinels: [{ host: 'a', port: 26379 }] } })).toThrow(/sentinel\.name must name the master group/);
    expect(() => resolveRedisOptions({ client: {} as never })).toThrow(/client must be an ioredis Redis or Cluster instance/);
    expect(() => resolveRedisOptions({ url: 'http://x' })).toThrow(/url must start with redis:\/\/ or rediss:\/\//);
  });
});
