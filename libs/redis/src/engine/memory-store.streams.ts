import { StoreTypeError } from './memory-store.errors.js';

/**
 * Stream ids and bounds for the memory store, parsed as Redis parses them. Ids are kept as two
 * safe integers: real ids are epoch milliseconds, far below 2^53; a larger one is refused rather
 * than rounded (two ids would compare equal).
 */

/** One stream entry in memory. */
export interface StreamItem {
  ms: number;
  seq: number;
  id: string;
  fields: Record<string, string>;
  bytes: number;
}

/** A stream: its entries, oldest first, and the last id it ever gave (trimming does not lower it). */
export interface StreamData {
  items: StreamItem[];
  lastMs: number;
  lastSeq: number;
}

export type StreamId = readonly [ms: number, seq: number];

const INVALID_ID = 'ERR Invalid stream ID specified as stream command argument';
const TOP = Number.MAX_SAFE_INTEGER;

/** The id XADD `*` gives: the clock's ms, or one past the last id while the clock is not ahead of it. */
export function nextStreamId(stream: StreamData, nowMs: number): StreamId {
  if (nowMs > stream.lastMs) return [nowMs, 0];
  if (stream.lastSeq >= TOP) throw new StoreTypeError('ERR The stream has exhausted the last possible ID, unable to add more items');
  return [stream.lastMs, stream.lastSeq + 1];
}

export const compareIds = (a: StreamId, b: StreamId): number => a[0] - b[0] || a[1] - b[1];

/**
 * An XRANGE bound as the inclusive id it stands for, or null for an empty range (an exclusive
 * bound past the end of the id space). `-`/`+` are the smallest/largest ids; `<ms>` alone means
 * `<ms>-0` as a low bound and `<ms>-<max>` as a high one; `(` excludes the id itself.
 */
export function parseBound(text: string, side: 'low' | 'high'): StreamId | null {
  if (text === '-') return [0, 0];
  if (text === '+') return [TOP, TOP];
  const exclusive = text.startsWith('(');
  const body = exclusive ? text.slice(1) : text;
  const match = /^(\d+)(?:-(\d+))?$/.exec(body);
  if (!match) throw new StoreTypeError(INVALID_ID);
  const ms = Number(match[1]);
  const seq = match[2] === undefined ? (side === 'low' ? 0 : TOP) : Number(match[2]);
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) throw new StoreTypeError(INVALID_ID);
  if (!exclusive) return [ms, seq];
  if (side === 'low') {
    if (seq < TOP) return [ms, seq + 1];
    return ms < TOP ? [ms + 1, 0] : null;
  }
  if (seq > 0) return [ms, seq - 1];
  return ms > 0 ? [ms - 1, TOP] : null;
}
