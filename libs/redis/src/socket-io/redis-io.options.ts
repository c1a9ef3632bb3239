import type { Duration } from '../duration.js';

/** Options of {@link RedisIoAdapter}. */
export interface RedisIoAdapterOptions {
  /**
   * Validate a `SessionService` session at the handshake: the session id comes from the handshake's
   * `auth.token`, else `Authorization: Bearer`, else the session cookie (`cookieName`, default
   * `'sid'`). A socket without a valid session gets a `connect_error` whose message is
   * `E_SESSION_INVALID` (or `E_SESSION_UNAVAILABLE` when the session store cannot be asked).
   * Accepted sockets carry `socket.data.userId` / `socket.data.sessionId` and are in room
   * `user:<userId>`; a revoked session's sockets are disconnected on every instance.
   */
  authenticate?: boolean | { cookieName?: string };
  /**
   * How often connected authenticated sockets are checked again, as the safety net for revocation
   * notices missed during an outage or a partition (default `'30s'`; `0` turns it off). A check
   * also slides the session's idle timeout, like any request would.
   */
  revalidateEvery?: Duration;
  /** The `RedisModule` connection to use (default: the default connection). */
  connection?: string;
}
