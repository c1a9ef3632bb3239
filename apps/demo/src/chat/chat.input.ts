import { WsException } from '@nestjs/websockets';

/** Longest chat message the demo accepts, in characters (the library's own cap is in bytes, larger). */
export const MAX_BODY_CHARS = 2_000;

/** Error codes a chat client can receive in the `exception` event. */
export type ChatErrorCode = 'E_CHAT_INPUT' | 'E_TRIP_NOT_FOUND' | 'E_NOT_JOINED' | 'E_UNAUTHENTICATED';

/** What the client receives as the `exception` event: `{ status: 'error', code, message, event }`. */
export function chatError(code: ChatErrorCode, message: string, event: string): WsException {
  return new WsException({ status: 'error', code, message, event });
}

type Payload = Record<string, unknown>;

/** The payload as a plain object with only the named fields; anything else is refused, naming the field. */
function fields(data: unknown, event: string, allowed: readonly string[]): Payload {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw chatError('E_CHAT_INPUT', `${event} expects an object like { ${allowed.join(', ')} }`, event);
  }
  const unknown = Object.keys(data).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw chatError('E_CHAT_INPUT', `${event}: unknown field(s) ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`, event);
  return data as Payload;
}

function tripIdOf(payload: Payload, event: string): number {
  const id = payload.tripId;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw chatError('E_CHAT_INPUT', `${event}: tripId must be a positive integer`, event);
  return id;
}

export interface TripRef {
  tripId: number;
}

export interface SendInput extends TripRef {
  body: string;
  /** Client-chosen message id: a retried send with the same mid is stored once. */
  mid?: string;
}

export interface HistoryInput extends TripRef {
  /** A message id (`<ms>-<seq>`): only messages after it. Without it, the last 50. */
  since?: string;
}

export function parseTripRef(data: unknown, event: string): TripRef {
  return { tripId: tripIdOf(fields(data, event, ['tripId']), event) };
}

export function parseSend(data: unknown): SendInput {
  const payload = fields(data, 'send', ['tripId', 'body', 'mid']);
  const tripId = tripIdOf(payload, 'send');
  const { body, mid } = payload;
  if (typeof body !== 'string' || body.trim() === '') throw chatError('E_CHAT_INPUT', 'send: body must be a non-empty string', 'send');
  if (body.length > MAX_BODY_CHARS) throw chatError('E_CHAT_INPUT', `send: body is ${body.length} characters; at most ${MAX_BODY_CHARS}`, 'send');
  if (mid !== undefined && (typeof mid !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(mid))) {
    throw chatError('E_CHAT_INPUT', 'send: mid must be 1 to 64 letters, digits, _ or -', 'send');
  }
  return { tripId, body, ...(mid === undefined ? {} : { mid }) };
}

export function parseHistory(data: unknown): HistoryInput {
  const payload = fields(data, 'history', ['tripId', 'since']);
  const tripId = tripIdOf(payload, 'history');
  const { since } = payload;
  if (since !== undefined && (typeof since !== 'string' || !/^\d{1,20}-\d{1,20}$/.test(since))) {
    throw chatError('E_CHAT_INPUT', 'history: since must be a message id like "1733050000000-0"', 'history');
  }
  return { tripId, ...(since === undefined ? {} : { since }) };
}
