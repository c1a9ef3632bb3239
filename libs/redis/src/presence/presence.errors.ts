import { RedisKitError } from '../redis.errors.js';

/** A user id, socket id, room or status was not usable; nothing was read or written. */
export class PresenceInputError extends RedisKitError {
  constructor(message: string) {
    super('E_PRESENCE_INPUT', message);
  }
}
