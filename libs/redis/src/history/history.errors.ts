import { RedisKitError } from '../redis.errors.js';

/** A room name, message or read argument of `MessageHistory` was not usable; nothing was read or stored. */
export class HistoryInputError extends RedisKitError {
  declare readonly code: 'E_HISTORY_INPUT';
  constructor(message: string) {
    super('E_HISTORY_INPUT', message);
  }
}
