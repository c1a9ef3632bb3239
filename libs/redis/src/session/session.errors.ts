import { RedisKitError } from '../redis.errors.js';

/** Bad input to `SessionService` (user id, payload size, options): the message names what was wrong. */
export class SessionInputError extends RedisKitError {
  constructor(message: string) {
    super('E_SESSION_INPUT', message);
  }
}

/** Bad input to `TokenDenylist.deny`/`isDenied` (missing jti or iss, absurd exp). */
export class DenylistInputError extends RedisKitError {
  constructor(message: string) {
    super('E_DENYLIST_INPUT', message);
  }
}
