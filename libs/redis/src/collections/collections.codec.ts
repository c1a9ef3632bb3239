import { CorruptEntryError, decodeEnvelope, encodeEnvelope } from '../cache/cache.envelope.js';
import { CollectionValueError } from './collections.errors.js';

/**
 * Values go through the cache's envelope (`~c1|...`), so a Date, Map, Set, BigInt or Buffer comes
 * back as itself and anything not written by us is recognised as foreign. No expiry and no tags
 * live in it here; compression is off so a value can be compared byte for byte (migration checks).
 */
const OPTIONS = { compressThreshold: 0, maxValueBytes: 64 * 1024 * 1024 };

export function encodeValue(value: unknown): Promise<string> {
  return encodeEnvelope(value, 0, [], OPTIONS);
}

export async function decodeValue<V>(raw: string, collection: string, key: string): Promise<V> {
  try {
    return (await decodeEnvelope(raw)).value as V;
  } catch (error) {
    if (error instanceof CorruptEntryError) throw new CollectionValueError(collection, key, { cause: error });
    throw error;
  }
}
