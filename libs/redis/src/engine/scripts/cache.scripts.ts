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
