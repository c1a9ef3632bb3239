import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { resolveCacheOptions, type CacheOptions } from '../../src/cache/cache.options.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisConfigError } from '../../src/redis.errors.js';
import { RedisModule } from '../../src/redis.module.js';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('hex');
const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

let server: RedisProcess;
const opened: TestingModule[] = [];

async function cacheWith(cache: CacheOptions): Promise<CacheService> {
  const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'enc:', cache })] })
    .setLogger(silent)
    .compile();
  opened.push(moduleRef);
  await moduleRef.init();
  return moduleRef.get(CacheService);
}

const redisKey = (key: string) => `enc:cache::${key}`;
const raw = async (key: string) => (await server.command('GET', redisKey(key))) as string | null;

beforeAll(async () => {
  server = await startRedis();
});
afterEach(async () => {
  for (const moduleRef of opened.splice(0)) await moduleRef.close();
});
afterAll(async () => {
  await server?.stop();
});

describe('cache.encryption (AES-256-GCM) on a real Redis', () => {
  it('stores only ciphertext with the key id, and reads every kind of value back', async () => {
    const cache = await cacheWith({ encryption: { keys: [{ id: 'k1', secret: K1 }] } });
    const value = { email: 'ada@example.com', at: new Date(5), tags: new Set(['a']), big: 'lorem ipsum '.repeat(5_000) };
    await cache.set('profile', value);
    expect(await cache.get('profile')).toEqual(value);
    const stored = await raw('profile');
    expect(stored).toMatch(/^~e1\|k1\|[A-Za-z0-9+/=]+$/);
    expect(stored).not.toContain('ada@example.com');
    await cache.mset([{ key: 'm1', value: 'secret-1' }]);
    expect(await raw('m1')).toMatch(/^~e1\|k1\|/);
    expect(await cache.mget(['m1', 'profile'])).toEqual(['secret-1', value]);
    // Tags, getOrSet and invalidation work the same: the tag versions are inside the sealed envelope.
    expect(await cache.getOrSet('user:1', () => ({ name: 'Ada' }), { tags: ['users'] })).toEqual({ name: 'Ada' });
    await cache.invalidateTags(['users']);
    expect(await cache.get('user:1')).toBeUndefined();
  });

  it('rotation: a new first key writes, the old one still reads; dropping the old key makes its entries counted misses, deleted', async () => {
    const before = await cacheWith({ encryption: { keys: [{ id: 'k1', secret: K1 }] } });
    await before.set('old', 'written with k1');
    const rotated = await cacheWith({ encryption: { keys: [{ id: 'k2', secret: K2 }, { id: 'k1', secret: K1 }] } });
    expect(await rotated.get('old')).toBe('written with k1');
    await rotated.set('new', 'written with k2');
    expect(await raw('new')).toMatch(/^~e1\|k2\|/);
    expect(await before.get('new')).toBeUndefined(); // k1-only instance cannot read k2: a miss, not a throw
    expect(before.stats()).toMatchObject({ corrupt: 1, misses: 1 });
    expect(await raw('new')).toBeNull(); // and the entry it could not read is gone

    await rotated.set('again', 'k2');
    const onlyK2 = await cacheWith({ encryption: { keys: [{ id: 'k2', secret: K2 }] } });
    expect(await onlyK2.get('old')).toBeUndefined();
    expect(await onlyK2.get('again')).toBe('k2');
    expect(onlyK2.stats()).toMatchObject({ corrupt: 1, misses: 1, hits: 1 });
  });

  it('tampered bytes, a relabelled key id, an entry moved under another key, and garbage are counted misses, never throws', async () => {
    const cache = await cacheWith({ encryption: { keys: [{ id: 'k1', secret: K1 }, { id: 'k0', secret: K2 }] } });
    await cache.set('victim', { admin: false });
    const sealed = (await raw('victim'))!;
    const body = sealed.slice('~e1|k1|'.length);
    const flipped = body[20] === 'A' ? 'B' : 'A';
    const cases: Record<string, string> = {
      tampered: `~e1|k1|${body.slice(0, 20)}${flipped}${body.slice(21)}`,
      relabelled: `~e1|k0|${body}`,
      truncated: sealed.slice(0, 30),
      'unknown-key-id': `~e1|nope|${body}`,
      'not-base64': '~e1|k1|!!!!',
      'no-id': '~e1|',
    };
    for (const [name, text] of Object.entries(cases)) await server.command('SET', redisKey(name), text);
    await server.command('SET', redisKey('moved'), sealed);
    for (const name of [...Object.keys(cases), 'moved']) {
      await expect(cache.get(name)).resolves.toBeUndefined();
      expect(await raw(name)).toBeNull();
    }
    expect(cache.stats()).toMatchObject({ corrupt: Object.keys(cases).length + 1 });
    expect(await cache.get('victim')).toEqual({ admin: false });
  });

  it('a plain entry under encryption, and an encrypted entry without it, are misses (no downgrade, no garbage)', async () => {
    const plain = await cacheWith({});
    await plain.set('p', 'clear text');
    const encrypted = await cacheWith({ encryption: { keys: [{ id: 'k1', secret: K1 }] } });
    expect(await encrypted.get('p')).toBeUndefined();
    await encrypted.set('e', 'sealed');
    expect(await plain.get('e')).toBeUndefined();
    expect(plain.stats().corrupt).toBe(1);
    expect(encrypted.stats().corrupt).toBe(1);
  });

  it('a huge foreign "ciphertext" is refused unread as a miss', async () => {
    const cache = await cacheWith({ maxValueBytes: 1024, encryption: { keys: [{ id: 'k1', secret: K1 }] } });
    await server.command('SET', redisKey('huge'), `~e1|k1|${'A'.repeat(4 * 1024 * 1024)}`);
    await expect(cache.get('huge')).resolves.toBeUndefined();
    expect(cache.stats().corrupt).toBe(1);
  });
});

describe('cache.encryption options', () => {
  const problems = (encryption: unknown): string => {
    try {
      resolveCacheOptions({ encryption } as CacheOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(RedisConfigError);
      return (error as Error).message;
    }
    throw new Error('expected a configuration error');
  };

  it('accept base64, base64url, hex and 32-byte Buffers', () => {
    const options = resolveCacheOptions({
      encryption: { keys: [{ id: 'a', secret: K1 }, { id: 'b', secret: K2 }, { id: 'c', secret: randomBytes(32) }, { id: 'd', secret: randomBytes(32).toString('base64url') }] },
    });
    expect(options.encryption?.keyIds).toEqual(['a', 'b', 'c', 'd']);
  });

  it('name what is wrong, never the secret', () => {
    const passphrase = 'correct horse battery staple';
    const message = problems({ keys: [{ id: 'k1', secret: passphrase }] });
    expect(message).toContain('cache.encryption.keys[0].secret must be 32 random bytes');
    expect(message).not.toContain(passphrase);
    expect(problems({ keys: [{ id: 'k1', secret: randomBytes(16).toString('base64') }] })).toContain('keys[0].secret must be 32 random bytes');
    expect(problems({ keys: [{ id: 'k1', secret: randomBytes(31) }] })).toContain('must be exactly 32 bytes (got a Buffer of 31)');
    expect(problems({ keys: [] })).toContain('at least one key');
    expect(problems(null)).toContain('cache.encryption must be');
    expect(problems({ keys: [{ id: 'has space', secret: K1 }] })).toContain("keys[0].id must be 1-32 letters");
    expect(problems({ keys: [{ id: 'k1', secret: K1 }, { id: 'k1', secret: K2 }] })).toContain('listed twice');
    const same = problems({ keys: [{ id: 'k1', secret: K1 }, { id: 'k2', secret: K1 }] });
    expect(same).toContain('same as key "k1"');
    expect(same).not.toContain(K1);
    expect(problems({ keys: [{ id: 'k1' }] })).toContain('keys[0].secret must be a string');
  });
});
