import {
  createParamDecorator,
  Inject,
  Injectable,
  Optional,
  ServiceUnavailableException,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DEFAULT_REDIS_NAME, getStoreEngineToken } from '../connection/redis.tokens.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { RedisTimeoutError, RedisUnavailableError } from '../redis.errors.js';
import { SessionUnavailableError } from './session.errors.js';
import { readSessionId, type SessionHttpRequest, type SessionIdSources } from './session.http.js';
import { SessionService, type Session } from './session.service.js';

/** Token of the optional {@link SessionGuardOptions}: `{ provide: SESSION_GUARD_OPTIONS, useValue: { cookie: '__Host-sid' } }`. */
export const SESSION_GUARD_OPTIONS = Symbol('SESSION_GUARD_OPTIONS');

/** Where {@link SessionGuard} reads the session id; both sources are on by default (`Bearer` first, then cookie `sid`). */
export type SessionGuardOptions = SessionIdSources;

/** The session {@link SessionGuard} attached to the request, with its id (needed to revoke it on logout). */
export interface RequestSession<T = unknown> extends Session<T> {
  /** The session id the request presented. A credential: never log it. */
  sessionId: string;
}

/** The caller, as {@link CurrentUser} hands it to a handler. */
export interface SessionUser<T = unknown> {
  /** `userId` the session was created for. */
  id: string;
  /** The session's `data`. */
  data: T;
}

/** Property of the request the guard writes the session to (`req.redisSession`). */
export const SESSION_REQUEST_PROPERTY = 'redisSession';

interface GuardedRequest extends SessionHttpRequest {
  [SESSION_REQUEST_PROPERTY]?: RequestSession;
}

/**
 * Requires a live session: reads the id from `Authorization: Bearer <id>` or the `sid` cookie,
 * validates it with `SessionService` (sliding the idle timeout) and attaches it to the request for
 * `@CurrentSession()` / `@CurrentUser()`.
 * - no id, an unknown, expired, revoked or forged one, or an ambiguous request (two different `sid`
 *   cookies): **401**;
 * - the session store cannot be checked (Redis away, the instance on its in-memory fallback, a
 *   command timeout): **503**, so clients retry instead of dropping their session.
 *
 * Works on Express and Fastify. Each step is a protected method, so a subclass can change one.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    protected readonly sessions: SessionService,
    protected readonly moduleRef: ModuleRef,
    @Optional() @Inject(SESSION_GUARD_OPTIONS) protected readonly options: SessionGuardOptions = {},
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<GuardedRequest>();
    const sessionId = this.sessionIdFrom(req);
    if (!sessionId) throw this.unauthorized();
    let session: Session | null;
    try {
      session = await this.sessions.validate(sessionId);
    } catch (error) {
      if (this.isUnavailable(error)) throw this.unavailable();
      throw error;
    }
    if (!session) {
      // While the store serves from memory, "not found" means "not verifiable here".
      if (this.storeIsAway()) throw this.unavailable();
      throw this.unauthorized();
    }
    req[SESSION_REQUEST_PROPERTY] = { ...session, sessionId };
    return true;
  }

  /** The session id the request presents, or null (none, or ambiguous). */
  protected sessionIdFrom(req: SessionHttpRequest): string | null {
    return readSessionId(req, this.options ?? {}).sessionId;
  }

  /** Errors meaning "the store could not be asked" rather than "no such session". */
  protected isUnavailable(error: unknown): boolean {
    return error instanceof SessionUnavailableError || error instanceof RedisUnavailableError || error instanceof RedisTimeoutError;
  }

  protected unauthorized(): Error {
    return new UnauthorizedException('a valid session is required');
  }

  protected unavailable(): Error {
    return new ServiceUnavailableException('the session store cannot be checked right now; retry shortly');
  }

  private storeIsAway(): boolean {
    const name = this.sessions.options.connection ?? DEFAULT_REDIS_NAME;
    let engine: StoreEngine;
    try {
      engine = this.moduleRef.get<StoreEngine>(getStoreEngineToken(name), { strict: false });
    } catch {
      return false;
    }
    const mode = engine.mode();
    return mode === 'fallback' || mode === 'unavailable';
  }
}

function attached(context: ExecutionContext, decorator: string): RequestSession {
  const session = context.switchToHttp().getRequest<GuardedRequest>()[SESSION_REQUEST_PROPERTY];
  if (!session) throw new Error(`${decorator} is used on a route that SessionGuard does not guard: add @UseGuards(SessionGuard)`);
  return session;
}

/** The session of a route guarded by {@link SessionGuard}: `@CurrentSession() session: RequestSession<MyData>`. */
export const CurrentSession = createParamDecorator((_data: unknown, context: ExecutionContext): RequestSession => attached(context, '@CurrentSession()'));

/** The caller of a route guarded by {@link SessionGuard}: `@CurrentUser() user: SessionUser<MyData>` → `{ id, data }`. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): SessionUser => {
  const session = attached(context, '@CurrentUser()');
  return { id: session.userId, data: session.data };
});
