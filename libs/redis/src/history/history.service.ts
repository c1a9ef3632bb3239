import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { CollectionInputError } from '../collections/collections.errors.js';
import { checkIdentifier } from '../collections/collections.keys.js';
import { RedisConnection } from '../connection/redis.connection.js';
import { HISTORY_APPEND } from '../engine/scripts/history.scripts.js';
import type { StoreEngine, StreamEntry } from '../engine/store-engine.port.js';
import { HistoryInputError } from './history.errors.js';
import { roomKeys } from './history.keys.js';
import { resolveHistoryOptions, type HistoryOptions, type ResolvedHistoryOptions } from './history.options.js';
import type { HistoryMessage, HistoryMessageInput } from './history.types.js';

const MID = /^[A-Za-z0-9_.:-]{1,128}$/;
const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;
const MESSAGE_FIELDS = new Set(['from', 'body', 'mid']);

/**
 * A chat room's message history on a Redis stream per room (`history:{<room>}`, hash-tagged, so
 * it works on Cluster), capped at `history.maxLength` messages.
 *
 * Appends are idempotent by `mid`: the append is one script that checks the room's mid index and
 * adds the entry, so a retry after a timeout or the replay of an outage write stores a message
 * once. While Redis is away, appends go to the in-process fallback and are replayed to Redis when
 * it returns (keeping their `ts`); reads meanwhile answer from the fallback, that is only the
 * messages this instance appended during the outage.
 */
@Injectable()
export class MessageHistory {
  private readonly logger = new Logger('MessageHistory');

  private readonly options: ResolvedHistoryOptions;

  /** A history on `engine`; `options` are validated here (a bad one throws `RedisConfigError`). */
  constructor(
    private readonly engine: StoreEngine,
    options?: HistoryOptions,
  ) {
    this.options = resolveHistoryOptions(options);
  }

  /** The history of a connection (its engine and its outage story) or of any engine; options are validated here. */
  static create(source: RedisConnection | StoreEngine, options?: HistoryOptions): MessageHistory {
    return new MessageHistory(source instanceof RedisConnection ? source.engine : source, options);
  }

  /**
   * Appends a message to `room` and returns it as stored. A `mid` already in the room's history
   * stores nothing and returns the stored message. Rejects with `HistoryInputError` for a bad room
   * or message (nothing stored); with `RedisTimeoutError` when Redis did not answer in time but is
   * not down (the message may be stored: append again with the same `mid`).
   */
  async append(room: string, message: HistoryMessageInput): Promise<HistoryMessage> {
    const keys = roomKeys(room);
    const { from, body, mid } = this.checkMessage(message);
    const cap = this.options.maxLength;
    // An append served from memory during an outage is replayed later: with the time it was first
    // appended (read from the memory reply below, before any replay can start), not the replay's.
    let firstTs = '';
    const reply = (await this.engine.runScript(HISTORY_APPEND, [keys.stream, keys.mids], [mid, cap, '', from, body], {
      replayOnRecovery: 'durable',
      capability: 'history',
      replayArgs: () => [mid, cap, firstTs, from, body],
    })) as [string, string, string, string, number];
    const [id, ts, storedFrom, storedBody] = reply.map(String) as [string, string, string, string];
    firstTs = ts;
    // A duplicate answers with what is stored, unless what is stored is not a message this library wrote.
    const readable = /^\d{1,16}$/.test(ts) && storedFrom !== '';
    return readable ? { id, mid, room, from: storedFrom, body: storedBody, ts: Number(ts) } : { id, mid, room, from, body, ts: Date.now() };
  }

  /** The newest `count` messages of `room` (default 50), oldest first. */
  async last(room: string, count = 50): Promise<HistoryMessage[]> {
    const keys = roomKeys(room);
    checkCount(count, 'count');
    const entries = await this.read(room, this.engine.xrevrange(keys.stream, '+', '-', { count }));
    return this.decode(room, entries.reverse());
  }

  /**
   * Up to `limit` messages (default 100) of `room` strictly after the message `afterId`
   * (a `HistoryMessage.id`; `'0-0'` reads from the start), oldest first.
   */
  async since(room: string, afterId: string, limit = 100): Promise<HistoryMessage[]> {
    const keys = roomKeys(room);
    const match = typeof afterId === 'string' ? STREAM_ID.exec(afterId) : null;
    if (!match || !Number.isSafeInteger(Number(match[1])) || !Number.isSafeInteger(Number(match[2]))) {
      throw new HistoryInputError(`afterId must be a message id like "1733050000000-0" (got ${describe(afterId)})`);
    }
    checkCount(limit, 'limit');
    return this.decode(room, await this.read(room, this.engine.xrange(keys.stream, `(${afterId}`, '+', { count: limit })));
  }

  private checkMessage(message: unknown): { from: string; body: string; mid: string } {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      throw new HistoryInputError(`a message must be an object { from, body, mid? } (got ${describe(message)})`);
    }
    const unknown = Object.keys(message).filter((field) => !MESSAGE_FIELDS.has(field));
    if (unknown.length > 0) throw new HistoryInputError(`a message has only from, body and mid (unknown: ${unknown.map((f) => JSON.stringify(f)).join(', ')})`);
    const { from, body, mid } = message as Record<string, unknown>;
    try {
      checkIdentifier(from, 'from');
    } catch (error) {
      if (error instanceof CollectionInputError) throw new HistoryInputError(error.message);
      throw error;
    }
    if (typeof body !== 'string' || body.length === 0) throw new HistoryInputError(`body must be a non-empty string (got ${describe(body)})`);
    if (!(body as string & { isWellFormed(): boolean }).isWellFormed()) throw new HistoryInputError('body is not well-formed unicode');
    const bytes = Buffer.byteLength(from as string) + Buffer.byteLength(body);
    if (bytes > this.options.maxMessageBytes) {
      throw new HistoryInputError(`the message is ${bytes} bytes (from + body, UTF-8); the limit is history.maxMessageBytes = ${this.options.maxMessageBytes}`);
    }
    if (mid !== undefined && (typeof mid !== 'string' || !MID.test(mid))) {
      throw new HistoryInputError(`mid must be 1 to 128 characters of A-Z a-z 0-9 _ . : - (got ${describe(mid)})`);
    }
    return { from: from as string, body, mid: (mid as string | undefined) ?? randomUUID() };
  }

  /** A room key holding something other than a stream (a foreign writer) reads as an empty history, with a warning. */
  private async read(room: string, entries: Promise<StreamEntry[]>): Promise<StreamEntry[]> {
    try {
      return await entries;
    } catch (error) {
      if (!/^WRONGTYPE/.test(error instanceof Error ? error.message : '')) throw error;
      this.logger.warn(`the history key of room ${JSON.stringify(room)} holds another type of value; read as empty`);
      return [];
    }
  }

  /** Entries as messages; one this library did not write (missing fields, oversized) is skipped with a warning. */
  private decode(room: string, entries: readonly StreamEntry[]): HistoryMessage[] {
    const out: HistoryMessage[] = [];
    for (const entry of entries) {
      const problem = this.corruption(entry);
      if (problem) {
        this.logger.warn(`skipped entry ${entry.id} of room ${JSON.stringify(room)}: ${problem}`);
        continue;
      }
      const f = entry.fields;
      out.push({ id: entry.id, mid: f.mid!, room, from: f.from!, body: f.body!, ts: Number(f.ts) });
    }
    return out;
  }

  private corruption(entry: StreamEntry): string | undefined {
    const { mid, ts, from, body } = entry.fields;
    if (typeof mid !== 'string' || !MID.test(mid)) return 'no valid mid';
    if (typeof ts !== 'string' || !/^\d{1,16}$/.test(ts)) return 'no valid ts';
    if (typeof from !== 'string' || from.length === 0) return 'no from';
    if (typeof body !== 'string') return 'no body';
    const bytes = Buffer.byteLength(from) + Buffer.byteLength(body);
    if (bytes > this.options.maxMessageBytes) return `${bytes} bytes, over history.maxMessageBytes`;
    return undefined;
  }
}

function checkCount(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new HistoryInputError(`${what} must be a positive integer (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}
