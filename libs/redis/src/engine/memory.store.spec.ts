import { describe, expect, it } from '@jest/globals';
import { MemoryLimitError } from '../redis.errors.js';
import { MemoryStore } from './memory.store.js';

describe('MemoryStore bounds', () => {
  it('evicts the least recently used entry past maxEntries', () => {
    const store = new MemoryStore(3, 1_000_000);
    store.set('a', '1');
    store.set('b', '2');
    store.set('c', '3');
    expect(store.get('a')).toBe('1'); // a is now the most recently used
    store.set('d', '4');
    expect(store.get('b')).toBeNull();
    expect(store.keys().sort()).toEqual(['a', 'c', 'd']);
    expect(store.stats()).toMatchObject({ entries: 3, evictions: 1 });
  });

  it('keeps its byte count within maxBytes, for strings and aggregates alike', () => {
    const store = new MemoryStore(1_000, 2_000);
    for (let i = 0; i < 50; i++) store.set(`k${i}`, 'x'.repeat(100));
    for (let i = 0; i < 50; i++) store.hset('h', { [`f${i}`]: 'y'.repeat(10) });
    expect(store.stats().bytes).toBeLessThanOrEqual(2_000);
    expect(store.stats().evictions).toBeGreaterThan(0);
    expect(store.hget('h', 'f49')).toBe('y'.repeat(10));
  });

  it('refuses an entry that can never fit, keeping everything else', () => {
    const store = new MemoryStore(10, 500);
    store.set('small', 'v');
    expect(() => store.set('huge', 'x'.repeat(1_000))).toThrow(MemoryLimitError);
    expect(store.get('huge')).toBeNull();
  });

  it('expires lazily and through the heap, with no timer per key', () => {
    let now = 1_000;
    const store = new MemoryStore(100, 1_000_000, () => now);
    for (let i = 0; i < 20; i++) store.set(`t${i}`, 'v', { ttlMs: 100 });
    store.set('keep', 'v');
    now += 101;
    // Each write drains a bounded batch of expired entries, even ones nobody reads again.
    store.set('trigger', 'v');
    expect(store.stats().expirations).toBe(16);
    store.set('trigger2', 'v');
    expect(store.stats().entries).toBe(3);
    expect(store.stats().expirations).toBe(20);
  });

  it('an updated TTL is the one that counts', () => {
    let now = 0;
    const store = new MemoryStore(100, 1_000_000, () => now);
    store.set('k', 'v', { ttlMs: 100 });
    store.pexpire('k', 1_000);
    now = 500;
    store.set('other', 'v');
    expect(store.get('k')).toBe('v');
    now = 1_001;
    expect(store.get('k')).toBeNull();
  });
});

describe('MemoryStore streams', () => {
  it('gives strictly increasing ids even when the clock goes back or stands still, as Redis does', () => {
    let now = 1_000;
    const store = new MemoryStore(100, 1_000_000, () => now);
    expect(store.xadd('s', { a: '1' }, now)).toBe('1000-0');
    expect(store.xadd('s', { a: '2' }, now)).toBe('1000-1');
    now = 500;
    expect(store.xadd('s', { a: '3' }, now)).toBe('1000-2');
    now = 2_000;
    expect(store.xadd('s', { a: '4' }, now, 1)).toBe('2000-0');
    // Trimmed down to one entry, the stream still remembers the last id it gave.
    now = 1_500;
    expect(store.xadd('s', { a: '5' }, now, 1)).toBe('2000-1');
    expect(store.xrange('s', '-', '+')).toEqual([{ id: '2000-1', fields: { a: '5' } }]);
  });

  it('accounts a stream in the byte bound and gives the bytes of trimmed entries back', () => {
    const store = new MemoryStore(100, 1_000_000);
    store.xadd('s', { body: 'x'.repeat(1_000) }, 1);
    const one = store.stats().bytes;
    for (let i = 0; i < 50; i++) store.xadd('s', { body: 'x'.repeat(1_000) }, 1, 1);
    // The same one entry held: only its id (1-0 then 1-50) is longer.
    expect(store.stats().bytes).toBe(one + 1);
  });
});
