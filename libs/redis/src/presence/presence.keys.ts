import { randomBytes } from 'node:crypto';
import { encodeSegment } from '../cache/cache.keys.js';
import { checkIdentifier } from '../collections/collections.keys.js';
import { CollectionInputError } from '../collections/collections.errors.js';
import { PresenceInputError } from './presence.errors.js';

/**
 * Key layout (logical keys; the engine adds `keyPrefix`):
 *   presence:u:{pu:<user>}     sorted set: the user's sockets, `<instance>|<socket>`, scored by expiry
 *   presence:s:{pu:<user>}     string: the user's status (same tag: one script keeps both)
 *   presence:r:{pr:<room>}     sorted set: the room's sockets, `<user>|<instance>|<socket>`
 *   presence:all:{presence}    sorted set: every socket, as in a room (the online-users index)
 * User, room and socket ids are percent-encoded by the cache's rule (`encodeSegment`), so none can
 * contain `|` (the member joint), `:` or `{}` (leave its segment or move its hash slot). Members
 * carry the instance id so one instance's heartbeat or disconnect never touches another's socket,
 * even when a socket id is reused on another instance.
 */
export const userSetKey = (userId: string): string => `presence:u:{pu:${encodeSegment(userId)}}`;
export const statusKey = (userId: string): string => `presence:s:{pu:${encodeSegment(userId)}}`;
export const roomKey = (room: string): string => `presence:r:{pr:${encodeSegment(room)}}`;
export const ALL_KEY = 'presence:all:{presence}';

/** Hex, so it never needs encoding; 48 bits: instances sharing a Redis will not collide. */
export const newInstanceId = (): string => randomBytes(6).toString('hex');

export const userMember = (instance: string, socketId: string): string => `${instance}|${encodeSegment(socketId)}`;
export const indexMember = (userId: string, instance: string, socketId: string): string => `${encodeSegment(userId)}|${instance}|${encodeSegment(socketId)}`;

/** The socket id of a user-set member. */
export const socketOfUserMember = (member: string): string => decodeURIComponent(member.slice(member.indexOf('|') + 1));
/** The user id of a room or index member. */
export const userOfIndexMember = (member: string): string => decodeURIComponent(member.slice(0, member.indexOf('|')));

/** The hostile-name rules of collections (non-empty, bounded, well-formed), as a presence error. */
export function checkPresenceId(value: unknown, what: string): string {
  try {
    return checkIdentifier(value, what);
  } catch (error) {
    if (error instanceof CollectionInputError) throw new PresenceInputError(error.message);
    throw error;
  }
}
