import { describe, expect, it } from '@jest/globals';
import { normalizeException } from './redis-io.exceptions.js';
import type { IoSocket } from './redis-io.types.js';

/** A socket whose emit records what would go on the wire. */
function recordingSocket() {
  const sent: Array<[string, ...unknown[]]> = [];
  const socket = { emit: (event: string, ...args: unknown[]) => (sent.push([event, ...args]), true) };
  normalizeException(socket as unknown as IoSocket);
  return { socket: socket as unknown as { emit(event: string, ...args: unknown[]): boolean }, sent };
}

describe('normalizeException', () => {
  it('gives a rate-limit refusal its code and retryAfterMs, keeping the guard fields', () => {
    const { socket, sent } = recordingSocket();
    socket.emit('exception', { status: 'error', statusCode: 429, error: 'Too Many Requests', message: 'slow down', policy: 'say', retryAfter: 7 });
    expect(sent).toEqual([['exception', { status: 'error', code: 'E_RATE_LIMITED', statusCode: 429, error: 'Too Many Requests', message: 'slow down', policy: 'say', retryAfter: 7, retryAfterMs: 7000 }]]);
  });

  it("a limit that cannot be checked ('closed') gets E_RATE_LIMIT_UNAVAILABLE", () => {
    const { socket, sent } = recordingSocket();
    socket.emit('exception', { status: 'error', statusCode: 503, message: 'cannot be checked', retryAfter: 1 });
    expect(sent[0]![1]).toMatchObject({ code: 'E_RATE_LIMIT_UNAVAILABLE', retryAfterMs: 1000 });
  });

  it('leaves other exceptions, payloads with a code, and other events alone', () => {
    const { socket, sent } = recordingSocket();
    const other = { status: 'error', message: 'Internal server error' };
    const coded = { status: 'error', statusCode: 429, code: 'MINE', retryAfter: 3 };
    socket.emit('exception', other);
    socket.emit('exception', coded);
    socket.emit('said', { statusCode: 429, retryAfter: 3 });
    socket.emit('exception', 'plain text');
    expect(sent).toEqual([
      ['exception', other],
      ['exception', coded],
      ['said', { statusCode: 429, retryAfter: 3 }],
      ['exception', 'plain text'],
    ]);
  });
});
