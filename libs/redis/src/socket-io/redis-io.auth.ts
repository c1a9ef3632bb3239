import type { IoSocket as Socket } from './redis-io.types.js';
import { readSessionId } from '../session/session.http.js';
import { SessionUnavailableError } from '../session/session.errors.js';
import type { SessionService } from '../session/session.service.js';

/** What an authenticated socket carries in `socket.data`. */
export interface SocketSessionData {
  userId: string;
  sessionId: string;
}

/** The error a refused handshake ends with; the client sees `message` and `data` on `connect_error`. */
export class HandshakeRefusal extends Error {
  readonly data: { code: string; reason: string };
  constructor(code: 'E_SESSION_INVALID' | 'E_SESSION_UNAVAILABLE', reason: string) {
    super(code);
    this.data = { code, reason };
  }
}

/** The session id the handshake presents: `auth.token`, else `Authorization: Bearer`, else the cookie. */
export function handshakeSessionId(socket: Socket, cookieName: string): string | HandshakeRefusal {
  const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
  if (token !== undefined) {
    if (typeof token !== 'string' || token === '') return new HandshakeRefusal('E_SESSION_INVALID', 'auth.token must be a session id (a non-empty string)');
    return token;
  }
  const found = readSessionId({ headers: socket.handshake.headers as Record<string, string | string[] | undefined> }, { cookie: cookieName });
  if (found.sessionId !== null) return found.sessionId;
  if ('problem' in found && found.problem) return new HandshakeRefusal('E_SESSION_INVALID', `the handshake is ambiguous (${found.problem})`);
  return new HandshakeRefusal('E_SESSION_INVALID', `no session: send it as auth.token or in the "${cookieName}" cookie`);
}

/** Validates the handshake's session; resolves with what goes in `socket.data`, or a refusal. */
export async function authenticateHandshake(sessions: SessionService, socket: Socket, cookieName: string): Promise<SocketSessionData | HandshakeRefusal> {
  const sessionId = handshakeSessionId(socket, cookieName);
  if (sessionId instanceof HandshakeRefusal) return sessionId;
  try {
    const session = await sessions.validate(sessionId);
    if (!session) return new HandshakeRefusal('E_SESSION_INVALID', 'the session is unknown, expired or revoked');
    return { userId: session.userId, sessionId };
  } catch (error) {
    if (error instanceof SessionUnavailableError) return new HandshakeRefusal('E_SESSION_UNAVAILABLE', 'the session cannot be checked right now; retry later');
    // Anything else is not an answer about the session either: refuse rather than let it in.
    return new HandshakeRefusal('E_SESSION_UNAVAILABLE', 'the session check failed; retry later');
  }
}
