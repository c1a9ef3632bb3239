import type { Logger } from '@nestjs/common';
import type { IoSocket as Socket } from './redis-io.types.js';
import type { Unsubscribe } from '../engine/store-engine.port.js';
import { SessionUnavailableError } from '../session/session.errors.js';
import type { SessionRevocationNotice } from '../session/session.revocation.js';
import type { SessionService } from '../session/session.service.js';
import { parseToken } from '../session/session.tokens.js';

// Sessions checked at once during a re-validation pass: enough to be quick, few enough not to
// crowd out request traffic on the session store.
const REVALIDATE_CONCURRENCY = 16;

interface Tracked {
  socket: Socket;
  userId: string;
  sessionId: string;
  hash: string;
}

/**
 * This instance's authenticated sockets, indexed by session (hash) and user, so a revocation
 * notice from any instance disconnects the matching local sockets, and a periodic pass re-validates
 * every session still connected (for notices lost while Redis was away).
 */
export class SocketSessions {
  private readonly bySession = new Map<string, Set<Tracked>>();
  private readonly byUser = new Map<string, Set<Tracked>>();
  private timer?: NodeJS.Timeout;
  private running = false;
  private unsubscribe?: Promise<Unsubscribe | undefined>;
  private closed = false;

  constructor(
    private readonly sessions: SessionService,
    private readonly logger: Logger,
    private readonly revalidateMs: number,
  ) {}

  /** Subscribes to revocation notices and starts the re-validation timer (once). */
  start(): void {
    if (this.unsubscribe || this.closed) return;
    this.unsubscribe = this.sessions.onRevocation((notice) => this.onNotice(notice)).catch((error: unknown) => {
      this.logger.warn(`Socket.IO sockets will not hear revocation notices (${error instanceof Error ? error.message : String(error)}); revoked sessions are dropped at the next re-validation`);
      return undefined;
    });
    if (this.revalidateMs > 0) {
      this.timer = setInterval(() => void this.revalidate(), this.revalidateMs);
      this.timer.unref();
    }
  }

  add(socket: Socket, userId: string, sessionId: string): void {
    const hash = parseToken(sessionId)?.hash;
    if (!hash) return;
    const entry: Tracked = { socket, userId, sessionId, hash };
    index(this.bySession, hash, entry);
    index(this.byUser, userId, entry);
    socket.once('disconnect', () => {
      unindex(this.bySession, hash, entry);
      unindex(this.byUser, userId, entry);
    });
  }


  /** One re-validation pass over every distinct connected session; skipped if one is still running. */
  async revalidate(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      const sessions = [...this.bySession.entries()];
      for (let i = 0; i < sessions.length && !this.closed; i += REVALIDATE_CONCURRENCY) {
        await Promise.all(sessions.slice(i, i + REVALIDATE_CONCURRENCY).map(([hash, set]) => this.check(hash, set)));
      }
    } finally {
      this.running = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const off = await this.unsubscribe;
    try {
      await off?.();
    } catch {
      // The connection may already be closed at shutdown; nothing is left to unsubscribe from then.
    }
  }

  private async check(hash: string, set: Set<Tracked>): Promise<void> {
    const first = set.values().next().value;
    if (!first) return;
    try {
      const session = await this.sessions.validate(first.sessionId);
      if (!session || session.userId !== first.userId) this.drop(this.bySession.get(hash));
    } catch (error) {
      // Not an answer about the session: its sockets stay until a check can say.
      if (!(error instanceof SessionUnavailableError)) this.logger.warn(`A socket session could not be re-validated: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private onNotice(notice: SessionRevocationNotice): void {
    if ('hashes' in notice) {
      for (const hash of notice.hashes) this.drop(this.bySession.get(hash));
      return;
    }
    const sockets = this.byUser.get(notice.userId);
    if (!sockets) return;
    this.drop(new Set([...sockets].filter((t) => t.hash !== notice.except)));
  }

  private drop(entries: Set<Tracked> | undefined): void {
    if (!entries) return;
    // Copied: disconnecting removes entries from the very sets being read.
    for (const entry of [...entries]) entry.socket.disconnect(true);
  }
}

function index<K>(map: Map<K, Set<Tracked>>, key: K, entry: Tracked): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(entry);
}

function unindex<K>(map: Map<K, Set<Tracked>>, key: K, entry: Tracked): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(entry);
  if (set.size === 0) map.delete(key);
}
