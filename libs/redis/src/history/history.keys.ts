import { encodeSegment } from '../cache/cache.keys.js';
import { CollectionInputError } from '../collections/collections.errors.js';
import { checkIdentifier } from '../collections/collections.keys.js';
import { HistoryInputError } from './history.errors.js';

/**
 * Key layout (logical keys; the engine adds `keyPrefix`):
 *   history:{<room>}        the room's stream
 *   history:{<room>}:mids   its mid index (the append script keeps it to the stream's entries)
 * The room is checked and percent-encoded by the collections' rule, so no room name can leave its
 * segment, move the hash slot or widen a SCAN; both keys share the hash tag, so the append script
 * runs on Cluster.
 */
export interface RoomKeys {
  stream: string;
  mids: string;
}

export function roomKeys(room: unknown): RoomKeys {
  try {
    checkIdentifier(room, 'a room name');
  } catch (error) {
    if (error instanceof CollectionInputError) throw new HistoryInputError(error.message);
    throw error;
  }
  const tag = `history:{${encodeSegment(room as string)}}`;
  return { stream: tag, mids: `${tag}:mids` };
}
