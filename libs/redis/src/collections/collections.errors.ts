import { RedisKitError } from '../redis.errors.js';

/** A collection name, tenant, key or option was not usable; nothing was read or written. */
export class CollectionInputError extends RedisKitError {
  constructor(message: string) {
    super('E_COLLECTION_INPUT', message);
  }
}

/**
 * What is stored under a collection entry is not a value this library wrote (corrupt bytes, or a
 * foreign writer). Thrown rather than read as "missing": for a store of record, a silent miss would
 * hide data loss. `key` is the entry's key within its collection.
 */
export class CollectionValueError extends RedisKitError {
  constructor(
    readonly collection: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super('E_COLLECTION_VALUE', `the entry ${JSON.stringify(key)} of collection ${JSON.stringify(collection)} cannot be decoded`, options);
  }
}

/** A migration was stopped (its progress callback threw, or its signal aborted); the checkpoint says how far it got. */
export class MigrationAbortedError extends RedisKitError {
  constructor(
    readonly completedEntries: number,
    options?: { cause?: unknown },
  ) {
    super('E_MIGRATION_ABORTED', `migration stopped after ${completedEntries} entries; run it again to resume`, options);
  }
}
