import { createHash } from 'node:crypto';
import { defineScript } from '../script.registry.js';

/** Atomic operations of the cache (single-key each, so they run on Cluster unchanged). */

export const CACHE_LOCK_FAIL = defineScript({
  name: 'cache-lock-fail',
  version: 1,
  file: 'cache-lock-fail.lua',
  twin: (store, [key], [token, message, ttlMs]) => {
    if (store.get(key!) !== token) return 0;
    store.set(key!, `!${message}`, { ttlMs: Number(ttlMs) });
    return 1;
  },
});

const sha1 = (text: string): string => createHash('sha1').update(text, 'utf8').digest('hex');

export const CACHE_LOAD_BEGIN = defineScript({
  name: 'cache-load-begin',
  version: 1,
  file: 'cache-load-begin.lua',
  twin: (store, [key], [marker, ttlMs]) => {
    const current = store.get(key!);
    if (current === null || current.startsWith('~l|')) {
      store.set(key!, marker!, { ttlMs: Number(ttlMs) });
      return [1];
    }
    return [0, sha1(current)];
  },
});

/** The twin cannot publish: in memory there is no other instance to tell (the caller records it). */
export const CACHE_WRITE = defineScript({
  name: 'cache-write',
  version: 1,
  file: 'cache-write.lua',
  twin: (store, [key], [raw, ttlMs, guard, expected]) => {
    if (guard !== '') {
      const current = store.get(key!);
      if (current === null) return 0;
      if (guard === 'eq' && current !== expected) return 0;
      if (guard === 'sha' && sha1(current) !== expected) return 0;
    }
    const ttl = Number(ttlMs);
    store.set(key!, raw!, ttl > 0 ? { ttlMs: ttl } : {});
    return 1;
  },
});

export const CACHE_TAG_VERSION = defineScript({
  name: 'cache-tag-version',
  version: 1,
  file: 'cache-tag-version.lua',
  twin: (store, [key], [fresh, ttlMs]) => {
    const ttl = Number(ttlMs);
    const version = store.get(key!);
    if (version === null) {
      store.set(key!, fresh!, ttl > 0 ? { ttlMs: ttl } : {});
      return fresh!;
    }
    if (ttl === 0) store.persist(key!);
    else {
      const left = store.pttl(key!);
      if (left >= 0 && left < ttl) store.pexpire(key!, ttl);
    }
    return version;
  },
});
