import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Body, Controller, Get, HttpCode, Module, Post, Res, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  clearSessionCookie,
  CurrentSession,
  CurrentUser,
  RedisModule,
  RedisTimeoutError,
  RedisUnavailableError,
  sessionCookie,
  SessionGuard,
  SessionService,
  type RedisModuleOptions,
  type RequestSession,
  type SessionUser,
} from 'nestjs-redis-kit';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';

interface Profile {
  name: string;
}

@Controller()
class AuthController {
  constructor(private readonly sessions: SessionService) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string; name: string }, @Res({ passthrough: true }) res: unknown) {
    const tokens = await this.sessions.create({ userId: body.userId, data: { name: body.name } satisfies Profile });
    sessionCookie(res, tokens);
    // A second cookie set by the app must survive the helper's.
    sessionCookie(res, tokens, { name: 'sid_mirror', sameSite: 'Strict', path: '/mirror' });
    return { sessionId: tokens.sessionId, absoluteExpiresAt: tokens.absoluteExpiresAt };
  }

  @Get('me')
  @UseGuards(SessionGuard)
  me(@CurrentUser() user: SessionUser<Profile>, @CurrentSession() session: RequestSession<Profile>) {
    return { user, sameUser: session.userId === user.id, hasExpiry: session.expiresAt > Date.now() };
  }

  @Post('logout')
  @HttpCode(200)
  @UseGuards(SessionGuard)
  async logout(@CurrentSession() session: RequestSession, @Res({ passthrough: true }) res: unknown) {
    await this.sessions.revoke(session.sessionId);
    clearSessionCookie(res);
    return { ok: true };
  }

  @Get('unguarded')
  unguarded(@CurrentUser() user: SessionUser) {
    return { user };
  }
}

type Platform = 'express' | 'fastify';

async function boot(platform: Platform, redis: RedisModuleOptions): Promise<{ app: INestApplication; base: string }> {
  @Module({ imports: [RedisModule.forRoot(redis)], controllers: [AuthController] })
  class AppModule {}
  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
  const app = await NestFactory.create(AppModule, adapter as never, { logger: false, abortOnError: false });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, base: `http://127.0.0.1:${address.port}` };
}

async function call(base: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await fetch(base + path, {
    method: init.method ?? 'GET',
    headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, setCookie: res.headers.getSetCookie(), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A well-formed id for `userId` whose secret part was never issued. */
const forged = (userId: string) => `${Buffer.from(userId).toString('base64url')}.${'A'.repeat(43)}`;

describe.each(['express', 'fastify'] as const)('SessionGuard, @CurrentUser and the session cookie over %s', (platform) => {
  let redis: RedisProcess;
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    redis = await startRedis();
    ({ app, base } = await boot(platform, { url: redis.url, keyPrefix: 'http:', commandTimeoutMs: 500, session: { absoluteTimeout: '2h' } }));
  });
  afterAll(async () => {
    await app?.close();
    await redis?.destroy();
  });

  const login = async (userId: string) => {
    const res = await call(base, '/login', { method: 'POST', body: { userId, name: `name of ${userId}` } });
    expect(res.status).toBe(200);
    return { ...res, sessionId: res.body.sessionId as string };
  };

  it('login sets a Secure, HttpOnly, SameSite=Lax, Path=/ cookie living until the absolute expiry, next to the app cookie', async () => {
    const { setCookie, sessionId } = await login('ada');
    expect(setCookie).toHaveLength(2);
    const [cookie, mirror] = setCookie;
    const attributes = cookie!.split('; ');
    expect(attributes[0]).toBe(`sid=${sessionId}`);
    expect(attributes).toEqual(expect.arrayContaining(['Path=/', 'Secure', 'HttpOnly', 'SameSite=Lax']));
    const maxAge = Number(attributes.find((a) => a.startsWith('Max-Age='))!.slice('Max-Age='.length));
    expect(maxAge).toBeGreaterThan(2 * 3600 - 120);
    expect(maxAge).toBeLessThanOrEqual(2 * 3600);
    expect(mirror).toMatch(/^sid_mirror=.*; Path=\/mirror; Secure; HttpOnly; SameSite=Strict$/);
  });

  it('the session id is accepted from the cookie or from Authorization: Bearer; the handler sees the user', async () => {
    const { sessionId } = await login('grace');
    const variants: Record<string, string>[] = [{ cookie: `sid=${sessionId}` }, { authorization: `Bearer ${sessionId}` }, { cookie: `theme=dark;  sid=${sessionId} ; other=1` }];
    for (const headers of variants) {
      const res = await call(base, '/me', { headers });
      expect(res).toMatchObject({ status: 200, body: { user: { id: 'grace', data: { name: 'name of grace' } }, sameUser: true, hasExpiry: true } });
    }
    // RFC 6265 allows a quoted value.
    expect((await call(base, '/me', { headers: { cookie: `sid="${sessionId}"` } })).status).toBe(200);
  });

  it('no id, a forged id, garbage and odd encodings answer 401', async () => {
    const { sessionId } = await login('linus');
    const cases: Record<string, string>[] = [
      {},
      { cookie: `sid=${forged('linus')}` },
      { authorization: `Bearer ${forged('linus')}` },
      { cookie: 'sid=' },
      { cookie: 'sid=%00%0a' },
      { cookie: `sid=${encodeURIComponent(sessionId).replace(/\./g, '%2E')}` },
      { cookie: `SID=${sessionId}` },
      { cookie: `sid=${sessionId.toUpperCase()}` },
      { cookie: `sid=${sessionId}x` },
      { authorization: `Basic ${sessionId}` },
      { cookie: `sid=${'a'.repeat(8000)}` },
    ];
    for (const headers of cases) {
      const res = await call(base, '/me', { headers });
      expect({ headers, status: res.status }).toEqual({ headers, status: 401 });
    }
  });

  it('two different sid cookies (cookie tossing) are refused; the same one twice is fine', async () => {
    const { sessionId } = await login('barbara');
    const other = (await login('mallory')).sessionId;
    expect((await call(base, '/me', { headers: { cookie: `sid=${other}; sid=${sessionId}` } })).status).toBe(401);
    expect((await call(base, '/me', { headers: { cookie: `sid=${forged('barbara')}; sid=${sessionId}` } })).status).toBe(401);
    expect((await call(base, '/me', { headers: { cookie: `sid=${sessionId}; sid=${sessionId}` } })).status).toBe(200);
  });

  it('logout revokes the session and clears the cookie; a session revoked elsewhere is refused too', async () => {
    const { sessionId } = await login('edsger');
    const out = await call(base, '/logout', { method: 'POST', headers: { cookie: `sid=${sessionId}` } });
    expect(out.status).toBe(200);
    expect(out.setCookie).toHaveLength(1);
    expect(out.setCookie[0]).toMatch(/^sid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax$/);
    expect((await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status).toBe(401);

    const second = await login('edsger');
    expect((await call(base, '/me', { headers: { authorization: `Bearer ${second.sessionId}` } })).status).toBe(200);
    await app.get(SessionService).revoke(second.sessionId);
    expect((await call(base, '/me', { headers: { authorization: `Bearer ${second.sessionId}` } })).status).toBe(401);
  });

  it('@CurrentUser on a route without SessionGuard is a server error naming the fix, not an anonymous user', async () => {
    const res = await call(base, '/unguarded');
    expect(res.status).toBe(500);
  });

  it('while Redis is away the guard answers 503 (cannot check), not 401; once it is back, 200 again', async () => {
    const { sessionId } = await login('margaret');
    redis.pause();
    try {
      await waitUntil(async () => (await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status === 503, { timeoutMs: 20_000, what: 'GET /me to answer 503' });
      const res = await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } });
      expect(res.status).toBe(503);
      expect(String(res.body.message)).toMatch(/session store cannot be checked/);
    } finally {
      redis.resume();
    }
    await waitUntil(async () => (await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status === 200, { timeoutMs: 30_000, what: 'GET /me to answer 200 again' });
  });
});

describe.each(['express', 'fastify'] as const)("SessionGuard with fallback: 'none' over %s", (platform) => {
  it('a dead Redis answers 503, not 401', async () => {
    const redis = await startRedis();
    const { app, base } = await boot(platform, { url: redis.url, fallback: 'none', commandTimeoutMs: 500 });
    try {
      const { sessionId } = (await call(base, '/login', { method: 'POST', body: { userId: 'ken', name: 'Ken' } })).body as { sessionId: string };
      expect((await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status).toBe(200);
      await redis.kill();
      await waitUntil(async () => (await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status === 503, { timeoutMs: 20_000, what: 'GET /me to answer 503' });
    } finally {
      await app.close();
      await redis.destroy();
    }
  });
});

// The outage contract is moving to validate() throwing a typed "could not check" error; until then
// these two are what "could not check" looks like, and the guard must turn them into 503, not 401/500.
describe.each(['express', 'fastify'] as const)('SessionGuard when validate() throws over %s', (platform) => {
  it.each([
    ['RedisUnavailableError', () => new RedisUnavailableError()],
    ['RedisTimeoutError', () => new RedisTimeoutError(300)],
  ])('%s answers 503; any other error stays a 500', async (_name, error) => {
    const { app, base } = await boot(platform, {});
    const sessions = app.get(SessionService);
    const { sessionId } = (await call(base, '/login', { method: 'POST', body: { userId: 'ivan', name: 'Ivan' } })).body as { sessionId: string };
    const original = sessions.validate.bind(sessions);
    try {
      sessions.validate = (async () => {
        throw error();
      }) as typeof sessions.validate;
      expect((await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status).toBe(503);
      sessions.validate = (async () => {
        throw new TypeError('a bug');
      }) as typeof sessions.validate;
      expect((await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status).toBe(500);
      sessions.validate = original;
      expect((await call(base, '/me', { headers: { cookie: `sid=${sessionId}` } })).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
