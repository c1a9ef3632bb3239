import { MemoryEngine } from './memory.engine.js';
import type { StoreEngine } from './store-engine.port.js';

/**
 * A bounded in-process store behind the port, owned by one capability (the rate limiter's
 * `'local'` limiter): never cleared by a recovery, never shared with the connection's fallback.
 */
export function createLocalEngine(options: { maxEntries: number; maxBytes?: number }): StoreEngine {
  return new MemoryEngine({ maxEntries: options.maxEntries, maxBytes: options.maxBytes ?? Number.MAX_SAFE_INTEGER });
}
