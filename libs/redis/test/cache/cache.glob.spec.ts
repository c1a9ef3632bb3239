import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { CacheService } from '../../src/cache/cache.service.js';
import { globMatch } from '../../src/engine/glob.util.js';
import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

const KEYS = [
  'a', 'b', 'ab', 'abc', 'a*c', 'a?c', 'a[c', 'a]c', 'a\\c', 'a-c', 'a^c', 'z', 'm', 'A', '-', ']', '[', '\\', '^',
  'hello', 'hallo', 'hxllo', 'heeeello', 'hllo', 'user:1', 'user:12', 'user:1:x', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  `${'a'.repeat(37)}b`, 'ba', 'bz', '*', '?', 'x*y',
];

// Edge cases of Redis' stringmatchlen: reversed ranges, escapes inside and outside classes,
// `]` right after `[`, negation, unterminated classes, trailing escapes, runs of stars.
const PATTERNS = [
  '*', '?', '??', 'a*', '*c', 'a?c', 'h?llo', 'h*llo', 'h[ae]llo', 'h[^e]llo', 'h[a-b]llo', '[z-a]', '[a-z]', '[A-Z]',
  '[\\]]', '[\\]a]', 'a[\\]]c', '[]', '[]a]', '[^]', '[^]]', '[a-]', '[-a]', 'a[', 'a[c', '[', 'a\\*c', 'a\\?c', 'a\\\\c',
  '\\', 'a\\', '[\\', '[^a', 'user:*', 'user:?', 'user:*:*', '***', '*a*a*a*a*a*a*a*a*a*a?', '*a*a*a*a*a*a*a*a*a*ab',
  'x\\*y', 'x*y', '[*]', '[?]', '[a-c-e]', '[\\-]', 'h[e-]*o', '[^a-z]', 'b[a-c-z]',
];

describe('glob matching against Redis SCAN MATCH (standalone)', () => {
  let server: RedisProcess;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    for (const key of KEYS) await redis.set(key, '1');
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('matches exactly the keys Redis matches, for every tricky pattern', async () => {
    const mismatches: string[] = [];
    for (const pattern of PATTERNS) {
      const fromRedis = new Set<string>();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        for (const k of keys) fromRedis.add(k);
      } while (cursor !== '0');
      const ours = KEYS.filter((k) => globMatch(pattern, k));
      if ([...fromRedis].sort().join('\n') !== [...ours].sort().join('\n')) mismatches.push(`${pattern}: redis=${JSON.stringify([...fromRedis].sort())} ours=${JSON.stringify(ours.sort())}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('the memory engine scans 10k keys with a backtracking-hostile pattern promptly', async () => {
    const engine = new MemoryEngine({ maxEntries: 20_000, maxBytes: 64 * 1024 * 1024 });
    // Half end in a run of a's (a match), half in digits (no match: the worst case for backtracking).
    for (let i = 0; i < 5_000; i++) await engine.set(`${String(i).padStart(5, '0')}${'a'.repeat(33)}`, '1');
    for (let i = 0; i < 5_000; i++) await engine.set(`${'a'.repeat(33)}${String(i).padStart(5, '0')}`, '1');
    const started = Date.now();
    let found = 0;
    for await (const batch of engine.scan('*a*a*a*a*a*a*a*a*a*a?')) found += batch.length;
    expect(found).toBe(5_000);
    const cache = CacheService.create(engine);
    await cache.onModuleInit();
    for (let i = 0; i < 100; i++) await cache.set(`${'a'.repeat(35)}${i}`, i);
    // Only one-digit suffixes end in "ten a's, then one character".
    expect(await cache.invalidatePattern('*a*a*a*a*a*a*a*a*a*a?')).toBe(10);
    expect(Date.now() - started).toBeLessThan(5_000);
    await cache.onApplicationShutdown();
    await engine.close();
  });
});
