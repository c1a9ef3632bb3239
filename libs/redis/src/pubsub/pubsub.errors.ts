import { RedisKitError } from '../redis.errors.js';

/** A channel name or pattern that is not a non-empty string. */
export class PubSubChannelError extends RedisKitError {
  constructor(what: 'channel' | 'pattern', value: unknown) {
    super('E_PUBSUB_CHANNEL', `${what} must be a non-empty string (got ${typeof value === 'string' ? JSON.stringify(value) : typeof value})`);
  }
}

/** A message JSON cannot represent (undefined, a function, a BigInt, a cycle). */
export class PubSubMessageError extends RedisKitError {
  constructor(channel: string, reason: string) {
    super('E_PUBSUB_MESSAGE', `message for channel "${channel}" cannot be sent as JSON: ${reason}`);
  }
}

/** `subscribe`/`psubscribe` was given something other than a function. */
export class PubSubHandlerError extends RedisKitError {
  constructor(value: unknown) {
    super('E_PUBSUB_HANDLER', `handler must be a function (got ${value === null ? 'null' : typeof value})`);
  }
}
