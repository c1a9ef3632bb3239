import { Injectable, NotFoundException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { JournalFullError, SessionService, SessionUnavailableError, TokenDenylist, type SessionListEntry, type SessionTokens } from 'nestjs-redis-kit';
import { UsersRepository } from './auth.repository.js';
import { DUMMY_HASH, verifyPassword } from './auth.password.js';
import { DENYLIST_ISSUER, sessionJti, type AuthUser, type SessionData } from './auth.user.js';

export interface LoginResult extends SessionTokens {
  user: { id: string; name: string; role: 'admin' | 'member' };
}

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersRepository,
    private readonly sessions: SessionService,
    private readonly denylist: TokenDenylist,
  ) {}

  async login(email: string, password: string, client: { userAgent?: string; ip?: string }): Promise<LoginResult> {
    const user = await this.users.findByEmail(email);
    // Same scrypt work whether or not the email exists, and one message for both failures.
    const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
    if (!user || !ok) throw new UnauthorizedException('invalid email or password');
    const data: SessionData = { role: user.role, name: user.name };
    const tokens = await this.sessions.create({ userId: user.id, userAgent: client.userAgent, ip: client.ip, data });
    return { ...tokens, user: { id: user.id, name: user.name, role: user.role } };
  }

  async refresh(refreshToken: string): Promise<SessionTokens> {
    const tokens = await this.sessions.refresh(refreshToken);
    // Unknown, expired, reused (which also revoked the family) or Redis away: the client logs in again.
    if (!tokens) throw new UnauthorizedException('the refresh token is not valid; log in again');
    return tokens;
  }

  /**
   * Ends the presented session, and denies it until its absolute expiry: if Redis loses the
   * revocation (an outage replay racing a create replayed by another instance), the deny-list
   * entry, journaled the same way, still refuses it. It works while the session cannot be
   * checked (Redis away): both writes are then journaled as security writes and reach Redis when
   * it returns, so a session the user ended does not come back. Only when that journal is full
   * does it fail (503): the user is told, rather than believe a logout that would be lost.
   */
  async logout(sessionId: string | undefined): Promise<{ revoked: true }> {
    if (!sessionId) throw new UnauthorizedException('logout needs the session: Authorization: Bearer <sessionId>');
    const session = await this.sessions.validate(sessionId).catch((error: unknown) => {
      if (error instanceof SessionUnavailableError) return null;
      throw error;
    });
    try {
      const revoked = await this.sessions.revoke(sessionId);
      // Unknown or already ended (Redis said so): nothing to deny, and no deny-list write for a
      // string anyone can make up.
      if (!revoked) throw new UnauthorizedException('the session is not valid (expired or revoked)');
      const expMs = session?.absoluteExpiresAt ?? Date.now() + this.sessions.options.absoluteMs;
      await this.denylist.deny({ jti: sessionJti(sessionId), iss: DENYLIST_ISSUER, exp: Math.ceil(expMs / 1000) });
      return { revoked: true };
    } catch (error) {
      if (error instanceof JournalFullError) throw new ServiceUnavailableException('the logout could not be recorded right now; try again shortly');
      throw error;
    }
  }

  async logoutAll(user: AuthUser): Promise<{ revoked: number }> {
    return { revoked: await this.sessions.revokeAll(user.id) };
  }

  list(user: AuthUser): Promise<Array<SessionListEntry<SessionData>>> {
    return this.sessions.list<SessionData>(user.id);
  }

  async revokeHandle(user: AuthUser, handle: string): Promise<{ revoked: true }> {
    if (!(await this.sessions.revokeHandle(user.id, handle))) throw new NotFoundException(`no live session ${handle} for this user`);
    return { revoked: true };
  }
}
