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

/**
 * The session could not be checked (Redis is away, or a revocation Redis refused is still being
 * retried): not the same as "not valid" (`validate` then resolves `null`). Answer 503, not 401.
 */
export class SessionUnavailableError extends RedisKitError {
  constructor(message = 'the session store cannot be asked right now', options?: { cause?: unknown }) {
    super('E_SESSION_UNAVAILABLE', message, options);
  }
}
