import type { IoSocket as Socket } from './redis-io.types.js';

/**
 * Gives refusals by `WsRateLimitGuard` (sent by Nest as the `exception` event) the socket error
 * shape clients can switch on: `{ status: 'error', code: 'E_RATE_LIMITED', message, retryAfterMs }`
 * (`E_RATE_LIMIT_UNAVAILABLE` when the limit cannot be checked). The guard's own fields stay; a
 * payload that already has a `code` is left alone.
 */
export function normalizeException(socket: Socket): void {
  const emit = socket.emit.bind(socket);
  (socket as { emit: (event: string, ...args: unknown[]) => boolean }).emit = (event: string, ...args: unknown[]) => {
    if (event === 'exception' && args.length === 1) return emit(event, rateLimitShape(args[0]));
    return emit(event, ...(args as []));
  };
}

function rateLimitShape(payload: unknown): unknown {
  if (!payload || typeof payload !== 'object') return payload;
  const p = payload as Record<string, unknown>;
  if (p.code !== undefined || typeof p.retryAfter !== 'number' || (p.statusCode !== 429 && p.statusCode !== 503)) return payload;
  return {
    ...p,
    status: 'error',
    code: p.statusCode === 429 ? 'E_RATE_LIMITED' : 'E_RATE_LIMIT_UNAVAILABLE',
    retryAfterMs: p.retryAfter * 1000,
  };
}
