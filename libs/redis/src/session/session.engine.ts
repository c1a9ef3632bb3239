import type { StoreEngine } from '../engine/store-engine.port.js';
import { RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';

/**
 * The engine itself, or a lookup run on first use: with `forRootAsync` the connection named in
 * `session.connection` is only known once the options resolve.
 */
export type EngineSource = StoreEngine | (() => StoreEngine);

/** Resolves an engine source once, and answers the outage question both session services ask. */
export class SessionEngine {
  private resolved?: StoreEngine;

  constructor(private readonly source: EngineSource) {}

  get engine(): StoreEngine {
    this.resolved ??= typeof this.source === 'function' ? this.source() : this.source;
    return this.resolved;
  }

  /** Redis is unreachable (the embedded store is not an outage). */
  outage(): boolean {
    const mode = this.engine.mode();
    return mode === 'fallback' || mode === 'unavailable';
  }
}

export function isUnavailable(error: unknown): boolean {
  return error instanceof RedisUnavailableError || error instanceof RedisTimeoutError;
}
