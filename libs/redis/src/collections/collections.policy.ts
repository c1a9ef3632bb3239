import type { CallOptions, StoreEngine, WriteOptions } from '../engine/store-engine.port.js';
import { CollectionInputError } from './collections.errors.js';
import { CollectionKeys } from './collections.keys.js';
import type { CollectionOptions, CollectionWhenUnavailable } from './collections.options.js';

/** What every collection holds: the port, its keys, and the per-call options its outage policy implies. */
export class CollectionContext {
  readonly keys: CollectionKeys;
  readonly whenUnavailable: CollectionWhenUnavailable;

  constructor(
    readonly engine: StoreEngine,
    name: string,
    options: CollectionOptions = {},
  ) {
    this.keys = new CollectionKeys(name, options.tenant);
    const policy = options.whenUnavailable ?? 'memory';
    if (policy !== 'memory' && policy !== 'closed') throw new CollectionInputError(`whenUnavailable must be 'memory' or 'closed' (got ${JSON.stringify(policy)})`);
    this.whenUnavailable = policy;
  }

  get name(): string {
    return this.keys.name;
  }

  /** Reads: from the fallback during an outage unless the collection is `closed`. */
  read(): CallOptions {
    return this.whenUnavailable === 'closed' ? STRICT : {};
  }

  /** Idempotent writes (absolute values): journaled and replayed on recovery unless `closed`. */
  write(): WriteOptions {
    return this.whenUnavailable === 'closed' ? STRICT : REPLAY;
  }

  /**
   * Writes that must not run twice (increments, pushes) and walks that must see all of Redis
   * (SCAN-based size and clear): never from the fallback.
   */
  strict(): WriteOptions {
    return STRICT;
  }
}

const STRICT: WriteOptions = Object.freeze({ fallback: false });
const REPLAY: WriteOptions = Object.freeze({ replayOnRecovery: true });
