import { describe, expect, it } from '@jest/globals';
import { BlockCache } from './rate-limit.block-cache.js';
import { clientAddress, encodeSubject, normalizeAddress } from './rate-limit.identity.js';

describe('client address', () => {
  it('ignores X-Forwarded-For unless a proxy is trusted', () => {
    expect(clientAddress('10.0.0.1', '1.2.3.4', 0)).toBe('10.0.0.1');
  });

  it('takes the entry the trusted proxies wrote, counted from the right, never a client-written one', () => {
    // client -> proxy (appends the client it saw) -> app
    expect(clientAddress('10.0.0.254', '198.51.100.7', 1)).toBe('198.51.100.7');
    expect(clientAddress('10.0.0.254', '6.6.6.6, 198.51.100.7', 1)).toBe('198.51.100.7');
    expect(clientAddress('10.0.0.254', ['6.6.6.6', '198.51.100.7, 10.0.0.3'], 2)).toBe('198.51.100.7');
    expect(clientAddress('10.0.0.254', '198.51.100.7:5123', 1)).toBe('198.51.100.7');
    expect(clientAddress('10.0.0.254', '[2001:db8::1]:443', 1)).toBe('2001:db8::1');
  });

  it('falls back to the peer when the trusted entry is not an address', () => {
    expect(clientAddress('10.0.0.254', 'garbage', 1)).toBe('10.0.0.254');
    expect(clientAddress('10.0.0.254', undefined, 1)).toBe('10.0.0.254');
  });
});

describe('address normalisation', () => {
  it('keeps IPv4 and unwraps IPv4-mapped IPv6 in both notations', () => {
    expect(normalizeAddress('192.0.2.1', 64)).toBe('192.0.2.1');
    expect(normalizeAddress('::ffff:192.0.2.1', 64)).toBe('192.0.2.1');
    expect(normalizeAddress('::FFFF:c000:0201', 64)).toBe('192.0.2.1');
  });

  it('groups IPv6 by prefix, so rotating within a /64 keeps the same budget', () => {
    const a = normalizeAddress('2001:db8:1:2:aaaa::1', 64);
    expect(a).toBe('2001:db8:1:2:0:0:0:0/64');
    expect(normalizeAddress('2001:0db8:0001:0002:ffff:ffff:ffff:fffe', 64)).toBe(a);
    expect(normalizeAddress('2001:db8:1:3::1', 64)).not.toBe(a);
    expect(normalizeAddress('2001:db8:1:2ff::1%eth0', 56)).toBe('2001:db8:1:200:0:0:0:0/56');
    expect(normalizeAddress('::1', 128)).toBe('0:0:0:0:0:0:0:1/128');
  });

  it('rejects what is no address', () => {
    expect(normalizeAddress('not-an-ip', 64)).toBeUndefined();
    expect(normalizeAddress(undefined, 64)).toBeUndefined();
  });
});

describe('subject encoding', () => {
  it('leaves plain ids alone and hashes anything that could leave the hash tag', () => {
    expect(encodeSubject('user-42@example.com')).toBe('user-42@example.com');
    const evil = encodeSubject('a}b{c');
    expect(evil).toMatch(/^#[A-Za-z0-9_-]{32}$/);
    expect(encodeSubject('a}b{d')).not.toBe(evil);
    expect(encodeSubject('x'.repeat(200))).toMatch(/^#/);
  });
});

describe('block cache', () => {
  it('blocks until the time given, for requests at least as costly, and stays bounded', () => {
    const cache = new BlockCache(2);
    cache.block('a', 1_000, 2);
    expect(cache.blockedFor('a', 2, 400)).toBe(600);
    expect(cache.blockedFor('a', 1, 400)).toBe(0);
    expect(cache.blockedFor('a', 2, 1_000)).toBe(0);
    cache.block('b', 5_000, 1);
    cache.block('c', 5_000, 1);
    cache.block('d', 5_000, 1);
    expect(cache.size).toBe(2);
    expect(cache.blockedFor('b', 1, 0)).toBe(0);
    expect(cache.blockedFor('d', 1, 0)).toBe(5_000);
  });
});
