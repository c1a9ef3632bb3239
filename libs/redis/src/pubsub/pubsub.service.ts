import { Logger } from '@nestjs/common';
import type { RedisConnection } from '../connection/redis.connection.js';
import type { Unsubscribe } from '../engine/store-engine.port.js';
import { PubSubChannelError, PubSubHandlerError, PubSubMessageError } from './pubsub.errors.js';

/** Receives a decoded message; a returned promise that rejects is logged like a throw. */
export type PubSubHandler<T = unknown> = (message: T, channel: string) => void | Promise<void>;
/** Receives a decoded message on a channel matching a pattern subscription. */
export type PubSubPatternHandler<T = unknown> = (message: T, channel: string, pattern: string) => void | Promise<void>;

/**
 * JSON messages over Redis pub/sub, on the connection's engine:
 * - the Redis engine keeps a dedicated subscriber connection and re-subscribes whenever it becomes
 *   ready again, so subscriptions survive a restart or failover without any action here;
 * - while the instance serves from the memory fallback, messages are delivered within the instance;
 * - channels are logical names: the engine adds `keyPrefix`, so apps sharing a Redis stay apart.
 * One failing handler never stops delivery to the others, nor of later messages.
 */
export class PubSubService {
  private readonly logger: Logger;

  constructor(private readonly connection: RedisConnection) {
    this.logger = new Logger(connection.name === 'default' ? 'RedisPubSub' : `RedisPubSub:${connection.name}`);
  }

  /** Publishes `message` as JSON; resolves with the number of subscribers Redis (or memory) reached. */
  async publish(channel: string, message: unknown): Promise<number> {
    checkName('channel', channel);
    let payload: string | undefined;
    try {
      payload = JSON.stringify(message);
    } catch (error) {
      throw new PubSubMessageError(channel, error instanceof Error ? error.message : String(error));
    }
    if (payload === undefined) throw new PubSubMessageError(channel, `${typeof message} has no JSON form`);
    return this.connection.engine.publish(channel, payload);
  }

  /** Resolves once the subscription is active (or, while Redis is down, registered to start when it returns). */
  async subscribe<T = unknown>(channel: string, handler: PubSubHandler<T>): Promise<Unsubscribe> {
    checkName('channel', channel);
    checkHandler(handler);
    return this.connection.engine.subscribe(channel, (raw, from) => {
      const decoded = this.decode(raw, from);
      if (decoded.ok) this.run(from, () => handler(decoded.value as T, from));
    });
  }

  /** Glob pattern over logical channel names (`*`, `?`, `[...]`); escape user input with `escapeGlob`. */
  async psubscribe<T = unknown>(pattern: string, handler: PubSubPatternHandler<T>): Promise<Unsubscribe> {
    checkName('pattern', pattern);
    checkHandler(handler);
    return this.connection.engine.psubscribe(pattern, (raw, from, matched) => {
      const decoded = this.decode(raw, from);
      if (decoded.ok) this.run(from, () => handler(decoded.value as T, from, matched));
    });
  }

  private decode(raw: string, channel: string): { ok: true; value: unknown } | { ok: false } {
    try {
      return { ok: true, value: JSON.parse(raw) };
    } catch {
      // The content is not logged: messages may carry user data.
      this.logger.warn(`Skipped a message on channel "${channel}" that is not valid JSON (${raw.length} characters)`);
      return { ok: false };
    }
  }

  private run(channel: string, call: () => void | Promise<void>): void {
    const fail = (error: unknown) => this.logger.error(`A subscriber of channel "${channel}" failed: ${error instanceof Error ? error.message : String(error)}`);
    try {
      const result = call();
      if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(undefined, fail);
    } catch (error) {
      fail(error);
    }
  }
}

function checkName(what: 'channel' | 'pattern', value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw new PubSubChannelError(what, value);
}

function checkHandler(handler: unknown): void {
  if (typeof handler !== 'function') throw new PubSubHandlerError(handler);
}
