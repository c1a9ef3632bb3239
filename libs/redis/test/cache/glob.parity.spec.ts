import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

// Keys with multibyte characters, bytes above 0x7F (which Redis compares as signed chars in ranges),
// glob metacharacters and a NUL.
const FIXED_KEYS = [
  'a', 'b', 'z', 'ab', 'abc', 'é', 'ÿ', 'aé', 'éa', 'éé', '日本', '本', '😀', 'a😀', 'x\u0000y', '\u0000',
  ']', '[', '\\', '^', '-', '*', '?', 'a]c', 'a[c', 'a\\c', 'a-c', 'a^c', 'A', 'Z', '~', '\u007f', '\u0080',
  'a'.repeat(1002), `${'a'.repeat(40)}b`, '\u00c3', 'h\u00e9llo', 'hello',
];

const FIXED_PATTERNS = [
  '*', '?', '??', '???', '????', 'a?', '?a', '[é]', '[é][é]', '[^a]', '[^a][^a]', '[a-é]', '[a-é][a-é]', '[é-a]?',
  '[\u0000-\u007f]', '[\u0080-\u00ff]', '[\u0080-\u00ff]?', '*é*', '日*', '*本', '*😀', '?😀', '??????', '[z-a]', '[a-z]',
  '[\\]]', '[\\]a]', '[]', '[]a]', '[^]', '[^]]', '[a-]', '[-a]', 'a[', '[', '[^', 'a[c', 'a\\*c', 'a\\\\c', '\\', 'a\\',
  '[\\', '[^a', 'x?y', 'x*y', 'x\\\u0000y', '[\u0000]', '****', 'a**', '**a', '*a*a*a*a*a*a*a*a*a*a?', 'h[é]llo', 'h??llo',
  '[a-c-e]', '[\\-]', 'a[a-]c', '[^-a]', '[~-\u007f]', `${'*a'.repeat(1000)}`, `${'*a'.repeat(1001)}`, `${'*a'.repeat(1001)}*`,
  `${'a*'.repeat(1001)}`, `${'*a'.repeat(999)}*b`,
];

/** A small deterministic generator, so a failure names a corpus that can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x80000000;
  };
}

function generated(): { keys: string[]; patterns: string[] } {
  const next = rng(15);
  const keyAlphabet = ['a', 'b', 'z', 'é', '-', ']', '[', '\\', '^', '*', '?', '日'];
  const patternAlphabet = ['a', 'b', 'z', 'é', '*', '?', '[', ']', '^', '-', '\\', '日'];
  const pick = (alphabet: string[], max: number) => Array.from({ length: 1 + Math.floor(next() * max) }, () => alphabet[Math.floor(next() * alphabet.length)]!).join('');
  const keys = new Set<string>();
  while (keys.size < 150) keys.add(`g${pick(keyAlphabet, 5)}`);
  const patterns = new Set<string>();
  while (patterns.size < 250) patterns.add(`g${pick(patternAlphabet, 6)}`);
  return { keys: [...keys], patterns: [...patterns] };
}

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) found.add(k);
  } while (cursor !== '0');
  return [...found].sort();
}

async function memoryScan(engine: MemoryEngine, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const batch of engine.scan(pattern, { count: 1000 })) found.push(...batch);
  return found.sort();
}

describe('memory engine glob = Redis stringmatchlen (SCAN MATCH and KEYS on a real server)', () => {
  let server: RedisProcess;
  let redis: Redis;
  let engine: MemoryEngine;
  const { keys: genKeys, patterns: genPatterns } = generated();
  const keys = [...FIXED_KEYS, ...genKeys];

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    engine = new MemoryEngine({ maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 });
    for (const key of keys) {
      await redis.set(key, '1');
      await engine.set(key, '1');
    }
  });
  afterAll(async () => {
    redis?.disconnect();
    await engine?.close();
    await server?.stop();
  });

  const compare = async (patterns: string[]) => {
    const mismatches: string[] = [];
    for (const pattern of patterns) {
      const fromScan = await scanAll(redis, pattern);
      const fromKeys = ((await redis.keys(pattern)) as string[]).sort();
      const ours = await memoryScan(engine, pattern);
      const show = (list: string[]) => JSON.stringify(list.map((k) => (k.length > 50 ? `${k.slice(0, 10)}…(${k.length})` : k)));
      if (show(fromScan) !== show(ours) || show(fromKeys) !== show(ours)) {
        mismatches.push(`${JSON.stringify(pattern.length > 60 ? `${pattern.slice(0, 20)}…(${pattern.length})` : pattern)}: redis=${show(fromScan)} memory=${show(ours)}`);
      }
    }
    return mismatches;
  };

  it('agrees on every hand-picked edge case (multibyte, signed ranges, escapes, open classes, star nesting)', async () => {
    expect(await compare(FIXED_PATTERNS)).toEqual([]);
  });

  it('agrees on a generated corpus of 250 patterns over 150 keys', async () => {
    expect(await compare(genPatterns)).toEqual([]);
  });

  it('agrees on which pattern subscriptions receive a message', async () => {
    const sub = new Redis(server.url);
    try {
      const channelPatterns = ['n?ws', 'n[é]ws', 'n??ws', 'n*', 'n[a-é]?ws', '[z-a]*'];
      const channels = ['news', 'néws', 'nows', 'zebra', 'a'];
      const fromRedis = new Set<string>();
      sub.on('pmessage', (pattern: string, channel: string) => fromRedis.add(`${pattern} ${channel}`));
      await sub.psubscribe(...channelPatterns);
      const fromMemory = new Set<string>();
      for (const p of channelPatterns) await engine.psubscribe(p, (_m, channel) => void fromMemory.add(`${p} ${channel}`));
      for (const c of channels) {
        await redis.publish(c, 'x');
        await engine.publish(c, 'x');
      }
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && redis.status === 'ready') {
        await new Promise((r) => setTimeout(r, 50));
        if (fromRedis.size > 0 && fromRedis.size === fromMemory.size) break;
      }
      expect([...fromMemory].sort()).toEqual([...fromRedis].sort());
      expect(fromRedis.has('n[é]ws néws')).toBe(false);
      expect(fromRedis.has('n??ws néws')).toBe(true);
    } finally {
      sub.disconnect();
    }
  });
});
