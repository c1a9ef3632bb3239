import { RedisKitError } from '../redis.errors.js';

/** A key, namespace, tag, pattern or option given to the cache was not usable. */
export class CacheInputError extends RedisKitError {
  constructor(message: string) {
    super('E_CACHE_INPUT', message);
  }
}

/** The serialized value is larger than `cache.maxValueBytes`; nothing was written. */
export class CacheValueTooLargeError extends RedisKitError {
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super('E_CACHE_VALUE_TOO_LARGE', `cache value is ${bytes} bytes serialized, over cache.maxValueBytes (${maxBytes})`);
  }
}

/** A value could not be serialized (a function, a symbol, a circular structure...). */
export class CacheSerializationError extends RedisKitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CACHE_SERIALIZE', message, options);
  }
}

/**
 * The loader run by another instance for the same key failed while this one waited for it. The
 * original error lives in the other process; only its message crosses over.
 */
export class CacheRemoteLoadError extends RedisKitError {
  constructor(message: string) {
    super('E_CACHE_REMOTE_LOAD', `the loader failed on the instance that held the lock: ${message}`);
  }
}

/**
 * The loader did not settle within `cache.loaderTimeout`. It is abandoned: its lock is released so
 * waiting instances load themselves, and a result arriving later is never written.
 */
export class CacheLoaderTimeoutError extends RedisKitError {
  constructor(readonly timeoutMs: number) {
    super('E_CACHE_LOADER_TIMEOUT', `the cache loader did not settle within cache.loaderTimeout (${timeoutMs} ms)`);
  }
}

/** Thrown for anything under our key that is not a readable envelope; callers treat it as a miss. */
export class CorruptEntryError extends Error {}
