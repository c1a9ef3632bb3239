import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import 'reflect-metadata';
import { Controller, Get, Injectable, Module, Post, UseGuards, type INestApplication, type Type } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { MessagePattern } from '@nestjs/microservices';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { CapturingLogger, parseInfo, startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RateLimit, RateLimitConfigError, RateLimitGuard, RedisModule, SkipRateLimit, type RedisModuleOptions } from 'nestjs-redis-kit';
import { RpcRateLimitGuard } from 'nestjs-redis-kit/microservices';
import { WsRateLimitGuard } from 'nestjs-redis-kit/websockets';
import { WebSocket } from 'ws';

type Platform = 'express' | 'fastify';

interface BootOptions {
  controllers?: Type[];
  providers?: unknown[];
  /** Express `trust proxy` / Fastify `trustProxy`. */
  trustProxy?: boolean;
  logger?: CapturingLogger;
  /** Runs between create and listen (where `useGlobalGuards` goes). */
  configure?: (app: INestApplication) => void;
}

async function boot(platform: Platform, redis: RedisModuleOptions, o: BootOptions = {}): Promise<INestApplication> {
  @Module({ imports: [RedisModule.forRoot(redis)], controllers: o.controllers ?? [], providers: (o.providers ?? []) as never[] })
  class AppModule {}
  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(o.trustProxy ? { trustProxy: true } : {});
  const app = await NestFactory.create(AppModule, adapter as never, {
    logger: o.logger ?? ['error', 'warn'],
    abortOnError: false,
  });
  if (platform === 'express' && o.trustProxy) (app as NestExpressApplication).set('trust proxy', true);
  o.configure?.(app);
  try {
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

const urlOf = (app: INestApplication) => `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;

async function statuses(base: string, path: string, n: number, headers: (i: number) => Record<string, string> = () => ({})): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await fetch(base + path, { headers: headers(i) })).status);
  return out;
}

let redis: RedisProcess;
let prefixes = 0;
/** Each app gets its own key prefix unless a test shares one on purpose. */
const freshPrefix = () => `reg${++prefixes}:`;

async function scriptCalls(): Promise<number> {
  const stats = parseInfo(await redis.command('INFO', 'commandstats'));
  let total = 0;
  for (const name of ['cmdstat_evalsha', 'cmdstat_eval']) total += Number(/calls=(\d+)/.exec(stats.get(name) ?? '')?.[1] ?? 0);
  return total;
}

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);

afterAll(async () => {
  await redis?.stop();
});

// ---- fixtures --------------------------------------------------------------------------------

@Controller('auth')
class AuthController {
  @Post('login')
  @RateLimit({ limit: 5, window: '1m', name: 'login' })
  login() {
    return { ok: true };
  }

  @Get('skipped')
  @RateLimit({ limit: 5, window: '1m' })
  @SkipRateLimit()
  skipped() {
    return { ok: true };
  }

  @Get('plain')
  plain() {
    return { ok: true };
  }
}

@Controller('plain')
class PlainController {
  @Get()
  plain() {
    return { ok: true };
  }
}

@Controller('reports')
@RateLimit({ limit: 10, window: '1m', name: 'reports' })
class ReportsController {
  @Get()
  list() {
    return [];
  }
}

@Injectable()
class TenantRateLimitGuard extends RateLimitGuard {}

@Controller('a')
@UseGuards(TenantRateLimitGuard)
class SubclassGuardedController {
  @Get()
  @RateLimit({ limit: 3, window: '1m' })
  a() {
    return { ok: true };
  }
}

@WebSocketGateway({ path: '/chat' })
class ChatGateway {
  @SubscribeMessage('say')
  @RateLimit({ limit: 3, window: '1m' })
  say() {
    return { event: 'said', data: true };
  }
}

@Controller()
class MathController {
  @MessagePattern({ cmd: 'sum' })
  @RateLimit({ limit: 3, window: '1m' })
  sum(data: number[]) {
    return data.reduce((a, b) => a + b, 0);
  }
}

describe.each(['express', 'fastify'] as const)('@RateLimit without a guard, over %s', (platform) => {
  it('stops start-up naming each unguarded route; guarded, skipped and plain routes are not named', async () => {
    const error = await boot(platform, { url: redis.url, keyPrefix: freshPrefix() }, { controllers: [AuthController, ReportsController, SubclassGuardedController] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RateLimitConfigError);
    const message = (error as Error).message;
    expect(message).toContain('POST /auth/login (AuthController.login): needs RateLimitGuard');
    // A class-level policy makes every handler of the class limited.
    expect(message).toContain('GET /reports (ReportsController.list): needs RateLimitGuard');
    expect(message).toContain('rateLimit: { global: true }');
    expect(message).not.toMatch(/skipped|plain|SubclassGuardedController/);
  });

  it("rateLimit.unguarded: 'warn' starts, logs the same list, and the route is (as said) not limited", async () => {
    const logger = new CapturingLogger();
    const app = await boot(platform, { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { unguarded: 'warn' } }, { controllers: [AuthController], logger });
    try {
      expect(logger.lines.filter((l) => l.startsWith('warn')).join('\n')).toContain('POST /auth/login (AuthController.login): needs RateLimitGuard');
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await fetch(`${urlOf(app)}/auth/login`, { method: 'POST' })).status);
      expect(codes).toEqual([201, 201, 201, 201, 201, 201]);
    } finally {
      await app.close();
    }
  });

  it('module defaults with routes but no guard anywhere stop start-up too (they would apply nowhere)', async () => {
    const options = { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { defaults: [{ limit: 100, window: '1m' }] } };
    const error = await boot(platform, options, { controllers: [PlainController] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RateLimitConfigError);
    expect((error as Error).message).toContain('rateLimit.defaults apply to no handler: no rate-limit guard runs for any of the 1.');
    // One guarded route is enough: the defaults then do something.
    const app = await boot(platform, { ...options, rateLimit: { ...options.rateLimit, global: true } }, { controllers: [PlainController] });
    try {
      expect((await fetch(`${urlOf(app)}/plain`)).headers.get('ratelimit-policy')).toBe('"100-in-60s";q=100;w=60');
    } finally {
      await app.close();
    }
  });

  it("rateLimit.unguarded: 'ignore' starts without a word", async () => {
    const logger = new CapturingLogger();
    const app = await boot(platform, { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { unguarded: 'ignore' } }, { controllers: [AuthController], logger });
    await app.close();
    expect(logger.lines.filter((l) => /RateLimit/.test(l))).toEqual([]);
  });

  const registrations: Array<[string, BootOptions]> = [
    ['@UseGuards with a subclass of RateLimitGuard', { controllers: [SubclassGuardedController], providers: [TenantRateLimitGuard] }],
    ['APP_GUARD useClass', { controllers: [AuthController, ReportsController], providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }] }],
    ['APP_GUARD useExisting', { controllers: [AuthController, ReportsController], providers: [{ provide: APP_GUARD, useExisting: RateLimitGuard }] }],
    ['app.useGlobalGuards(instance)', { controllers: [AuthController, ReportsController], configure: (app) => app.useGlobalGuards(app.get(RateLimitGuard)) }],
  ];
  it.each(registrations)('a route guarded through %s starts and is limited', async (_how, options) => {
    const app = await boot(platform, { url: redis.url, keyPrefix: freshPrefix() }, options);
    try {
      const path = options.controllers!.includes(AuthController) ? '/reports' : '/a';
      const limit = path === '/reports' ? 10 : 3;
      const codes = await statuses(urlOf(app), path, limit + 1);
      expect(codes.slice(0, limit).every((c) => c === 200)).toBe(true);
      expect(codes[limit]).toBe(429);
    } finally {
      await app.close();
    }
  });

  it('names WebSocket and RPC handlers that lack their own guard, even with the HTTP guard global', async () => {
    const error = await boot(platform, { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { global: true } }, {
      controllers: [MathController],
      providers: [ChatGateway],
      configure: (app) => app.useWebSocketAdapter(new WsAdapter(app)),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RateLimitConfigError);
    expect((error as Error).message).toContain('ws /chat say (ChatGateway.say): needs WsRateLimitGuard');
    expect((error as Error).message).toContain('rpc {"cmd":"sum"} (MathController.sum): needs RpcRateLimitGuard');
  });

  it('WebSocket and RPC handlers guarded by their guards (class or APP_GUARD) start', async () => {
    @WebSocketGateway({ path: '/chat2' })
    @UseGuards(WsRateLimitGuard)
    class GuardedChat {
      @SubscribeMessage('say')
      @RateLimit({ limit: 3, window: '1m' })
      say() {
        return { event: 'said', data: true };
      }
    }
    const app = await boot(platform, { url: redis.url, keyPrefix: freshPrefix() }, {
      controllers: [MathController],
      providers: [GuardedChat, { provide: APP_GUARD, useClass: RpcRateLimitGuard }],
      configure: (a) => a.useWebSocketAdapter(new WsAdapter(a)),
    });
    await app.close();
  });
});

// ---- rateLimit.global ------------------------------------------------------------------------

@Controller('g')
class GlobalController {
  @Get('limited')
  @RateLimit({ limit: 3, window: '1m', name: 'limited' })
  limited() {
    return { ok: true };
  }

  @Get('open')
  open() {
    return { ok: true };
  }

  // Also named here, as apps written before the option did: still limited once per request.
  @Get('twice')
  @UseGuards(RateLimitGuard)
  @RateLimit({ limit: 3, window: '1m', name: 'twice' })
  twice() {
    return { ok: true };
  }
}

describe.each(['express', 'fastify'] as const)('rateLimit.global over %s', (platform) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await boot(platform, { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { global: true } }, { controllers: [GlobalController] });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('limits a @RateLimit route with no @UseGuards', async () => {
    expect(await statuses(urlOf(app), '/g/limited', 4)).toEqual([200, 200, 200, 429]);
  });

  it('a route without policies (no @RateLimit, no defaults) answers without any Redis script call', async () => {
    const before = await scriptCalls();
    expect(await statuses(urlOf(app), '/g/open', 5)).toEqual([200, 200, 200, 200, 200]);
    expect(await scriptCalls()).toBe(before);
  });

  it('the guard named by @UseGuards as well does not charge a request twice', async () => {
    expect(await statuses(urlOf(app), '/g/twice', 4)).toEqual([200, 200, 200, 429]);
  });

  it('WebSocket messages pass through it: their own guard limits them, once; a message with no policy costs no Redis call', async () => {
    @WebSocketGateway({ path: '/live' })
    @UseGuards(WsRateLimitGuard)
    class LiveGateway {
      @SubscribeMessage('say')
      @RateLimit({ limit: 3, window: '1m', name: 'say' })
      say() {
        return { event: 'said', data: true };
      }

      @SubscribeMessage('ping')
      ping() {
        return { event: 'pong', data: true };
      }
    }
    const wsApp = await boot(platform, { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { global: true } }, {
      providers: [LiveGateway],
      configure: (a) => a.useWebSocketAdapter(new WsAdapter(a)),
    });
    const socket = new WebSocket(`${urlOf(wsApp).replace('http', 'ws')}/live`);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      const ask = (event: string) =>
        new Promise<string>((resolve) => {
          socket.once('message', (raw) => resolve((JSON.parse(String(raw)) as { event: string }).event));
          socket.send(JSON.stringify({ event, data: 'hi' }));
        });
      const events: string[] = [];
      for (let i = 0; i < 4; i++) events.push(await ask('say'));
      expect(events).toEqual(['said', 'said', 'said', 'exception']);
      const before = await scriptCalls();
      for (let i = 0; i < 3; i++) expect(await ask('ping')).toBe('pong');
      expect(await scriptCalls()).toBe(before);
    } finally {
      socket.close();
      await wsApp.close();
    }
  });
});

// ---- identity from the framework ------------------------------------------------------------

@Controller('who')
@UseGuards(RateLimitGuard)
class WhoController {
  @Get()
  @RateLimit({ limit: 1, window: '1m', name: 'who', by: 'ip' })
  who() {
    return { ok: true };
  }
}

describe.each(['express', 'fastify'] as const)('client identity over %s', (platform) => {
  const fiveClients = (i: number) => ({ 'x-forwarded-for': `192.0.2.${i + 1}` });

  it("with the framework's trust proxy on, five clients behind the proxy get five budgets", async () => {
    const app = await boot(platform, { url: redis.url, keyPrefix: freshPrefix() }, { controllers: [WhoController], trustProxy: true });
    try {
      expect(await statuses(urlOf(app), '/who', 5, fiveClients)).toEqual([200, 200, 200, 200, 200]);
      expect(await statuses(urlOf(app), '/who', 1, fiveClients)).toEqual([429]);
    } finally {
      await app.close();
    }
  });

  it('without it, X-Forwarded-For is ignored and they share one budget', async () => {
    const app = await boot(platform, { url: redis.url, keyPrefix: freshPrefix() }, { controllers: [WhoController] });
    try {
      expect(await statuses(urlOf(app), '/who', 5, fiveClients)).toEqual([200, 429, 429, 429, 429]);
    } finally {
      await app.close();
    }
  });

  it('rateLimit.trustProxy still decides when set, whatever the framework says', async () => {
    const off = await boot(platform, { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { trustProxy: false } }, { controllers: [WhoController], trustProxy: true });
    try {
      expect(await statuses(urlOf(off), '/who', 3, fiveClients)).toEqual([200, 429, 429]);
    } finally {
      await off.close();
    }
    const on = await boot(platform, { url: redis.url, keyPrefix: freshPrefix(), rateLimit: { trustProxy: 1 } }, { controllers: [WhoController] });
    try {
      expect(await statuses(urlOf(on), '/who', 3, fiveClients)).toEqual([200, 200, 200]);
    } finally {
      await on.close();
    }
  });
});

// ---- budgets keyed by route -----------------------------------------------------------------

function loginController(): Type {
  @Controller('session')
  @UseGuards(RateLimitGuard)
  @RateLimit({ limit: 4, window: '1m', name: 'session-area' })
  class LoginController {
    @Post('login')
    @RateLimit({ limit: 2, window: '1m', name: 'login' })
    login() {
      return { ok: true };
    }

    @Post('signup')
    @RateLimit({ limit: 3, window: '1m', name: 'login' })
    signup() {
      return { ok: true };
    }
  }
  return LoginController;
}

async function post(base: string, path: string): Promise<number> {
  return (await fetch(base + path, { method: 'POST' })).status;
}

describe.each(['express', 'fastify'] as const)('budgets keyed by route over %s', (platform) => {
  it('a renamed controller keeps its budgets; two routes never share one', async () => {
    const keyPrefix = freshPrefix();
    const before = loginController();
    const after = loginController();
    Object.defineProperty(after, 'name', { value: 'RenamedLoginController' });
    expect(after.name).not.toBe(before.name);

    const first = await boot(platform, { url: redis.url, keyPrefix }, { controllers: [before] });
    try {
      expect([await post(urlOf(first), '/session/login'), await post(urlOf(first), '/session/login')]).toEqual([201, 201]);
      // Same policy name on another route: its own budget (but the class budget is shared: 3 of 4 used).
      expect(await post(urlOf(first), '/session/signup')).toBe(201);
    } finally {
      await first.close();
    }

    const second = await boot(platform, { url: redis.url, keyPrefix }, { controllers: [after] });
    try {
      const login = await fetch(`${urlOf(second)}/session/login`, { method: 'POST' });
      expect(login.status).toBe(429);
      expect(((await login.json()) as { policy: string }).policy).toBe('login');
      // The class-level budget survived too: one left of 4.
      expect(await post(urlOf(second), '/session/signup')).toBe(201);
      const refused = await fetch(`${urlOf(second)}/session/signup`, { method: 'POST' });
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { policy: string }).policy).toBe('session-area');
    } finally {
      await second.close();
    }

    const keys = (await redis.command('KEYS', `${keyPrefix}rl:*`)) as string[];
    expect(keys.some((k) => k.endsWith(':POST /session/login:login:s'))).toBe(true);
    expect(keys.some((k) => k.endsWith(':POST /session/signup:login:s'))).toBe(true);
    expect(keys.some((k) => k.endsWith(':/session:session-area:s'))).toBe(true);
    expect(keys.some((k) => /LoginController/.test(k))).toBe(false);
  });
});
