import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RedisModule, SessionService, TokenDenylist, type RedisModuleOptions } from 'nestjs-redis-kit';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

async function boot(imports: unknown[]): Promise<INestApplicationContext> {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
  } catch (error) {
    // A failed start may already have connected: close what was opened, as a process exit would.
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

const keysOf = async (server: RedisProcess) => ((await server.command('KEYS', '*')) as string[]).sort();

describe('SessionService and TokenDenylist in a Nest app', () => {
  let cacheRedis: RedisProcess;
  let sessionRedis: RedisProcess;
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    [cacheRedis, sessionRedis] = await Promise.all([startRedis(), startRedis({ extraArgs: ['--maxmemory-policy', 'noeviction'] })]);
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await Promise.all([cacheRedis?.stop(), sessionRedis?.stop()]);
  });

  it("session.connection puts sessions and the deny-list on the named connection's Redis", async () => {
    const app = await boot([
      RedisModule.forRoot({ url: cacheRedis.url, keyPrefix: 'app:', session: { connection: 'sessions', idleTimeout: '10m', absoluteTimeout: '1h' } }),
      RedisModule.forRoot({ name: 'sessions', isGlobal: true, url: sessionRedis.url, keyPrefix: 'auth:' }),
    ]);
    apps.push(app);
    const sessions = app.get(SessionService);
    const denylist = app.get(TokenDenylist);
    const before = Date.now();
    const s = await sessions.create({ userId: 'dana', ip: '192.0.2.1' });
    expect(s.absoluteExpiresAt - before).toBeGreaterThan(3_600_000 - 60_000);
    expect(s.absoluteExpiresAt - before).toBeLessThanOrEqual(3_600_000 + 60_000);
    expect(await sessions.validate(s.sessionId)).toMatchObject({ userId: 'dana', ip: '192.0.2.1' });
    await denylist.deny({ jti: 'j1', iss: 'me', exp: Math.floor(Date.now() / 1000) + 60 });

    const onSessions = await keysOf(sessionRedis);
    expect(onSessions.some((k) => k.startsWith('auth:sess:{s:'))).toBe(true);
    expect(onSessions.some((k) => k.startsWith('auth:sess:dl:'))).toBe(true);
    expect((await keysOf(cacheRedis)).filter((k) => k.includes('sess:'))).toEqual([]);
    await app.close();
    apps.pop();
  });

  it('without session.connection they use the default connection', async () => {
    const app = await boot([RedisModule.forRoot({ url: cacheRedis.url, keyPrefix: 'plain:' })]);
    apps.push(app);
    const s = await app.get(SessionService).create({ userId: 'erin' });
    expect(await app.get(SessionService).validate(s.sessionId)).not.toBeNull();
    expect((await keysOf(cacheRedis)).some((k) => k.startsWith('plain:sess:{s:'))).toBe(true);
  });

  it('bad session options or an unknown connection stop start-up with a message naming them', async () => {
    const attempts: Array<[RedisModuleOptions, RegExp]> = [
      [{ url: cacheRedis.url, session: { idleTimeout: '2h', absoluteTimeout: '1h' } }, /session\.idleTimeout must not exceed session\.absoluteTimeout/],
      [{ url: cacheRedis.url, session: { durability: 'sync' as never } }, /session\.durability must be 'async' or 'replicated'/],
      [{ url: cacheRedis.url, session: { connection: 'nowhere' } }, /session\.connection "nowhere" names no RedisModule connection/],
    ];
    for (const [options, message] of attempts) {
      const error = await boot([RedisModule.forRoot(options)]).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'E_REDIS_CONFIG' });
      expect((error as Error).message).toMatch(message);
    }
  });
});
