import { describe, expect, it } from '@jest/globals';
import { toMs, type Duration } from './duration.js';
import { RedisConfigError } from './redis.errors.js';

describe('Duration from configuration', () => {
  it('accepts a plain string (as ConfigService returns it) and validates it at run time', () => {
    const fromConfig: string = ['15m'][0]!;
    const ttl: Duration = fromConfig; // compiles: values from ConfigService are strings
    expect(toMs(ttl, 'cache.ttl')).toBe(900_000);
    expect(toMs(' 2h ' as Duration)).toBe(7_200_000);
    expect(() => toMs('15 minutes', 'cache.ttl')).toThrow(RedisConfigError);
    expect(() => toMs('15 minutes', 'cache.ttl')).toThrow(/cache\.ttl must be milliseconds or a string like '250ms'/);
  });

  it('still suggests the units in editors (template literal kept in the union)', () => {
    const literal: Duration = '30s';
    const number: Duration = 250;
    expect([toMs(literal), toMs(number)]).toEqual([30_000, 250]);
  });
});
