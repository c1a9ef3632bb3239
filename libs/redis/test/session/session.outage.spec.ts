import { afterAll, describe, expect, it } from '@jest/globals';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { FallbackEngine } from '../../src/engine/fallback.engine.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { SessionService } from '../../src/session/session.service.js';
import { TokenDenylist } from '../../src/session/token-denylist.service.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { waitUntil } from '@nestjs-redis-kit/test-support';

const DEADLINE_MS = 200;

async function instance(url: string, fallback: 'memory' | 'none' = 'memory') {
  const connection = new RedisConnection(resolveRedisOptions({ url, commandTimeoutMs: DEADLINE_MS, keyPrefix: 'outage:', fallback }));
  await connection.onModuleInit();
  return connection;
}

const backOnRedis = (c: RedisConnection) => c.engine.mode() === 'redis' && (c.engine as FallbackEngine).stats().journalSize === 0;

/**
 * Two application instances ("A" and "B") on one Redis. Redis goes away; A creates and revokes
 * sessions and denies a token; Redis returns. B must then see all of it, and nothing revoked may
 * come back. Run with Redis frozen (SIGSTOP, data kept in memory) and killed (SIGKILL, data kept by
 * an fsync-always AOF).
 */
describe('sessions through a Redis outage, seen from two instances', () => {
  const servers: RedisProcess[] = [];
  const connections: RedisConnection[] = [];
  afterAll(async () => {
    for (const c of connections) await c.onApplicationShutdown();
    for (const s of servers) await s.destroy();
  });

  for (const how of ['paused (SIGSTOP)', 'killed (SIGKILL) and restarted with AOF'] as const) {
    it(`Redis ${how}: outage-time creations, revocations and denials reach Redis; no revoked session revives`, async () => {
      const server = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] });
      servers.push(server);
      const a = await instance(server.url);
      const b = await instance(server.url);
      connections.push(a, b);
      const sessionsA = new SessionService(a.engine, { sweepInterval: 0 });
      const localA = new SessionService(a.engine, { sweepInterval: 0, whenUnavailable: 'allow-local' });
      const sessionsB = new SessionService(b.engine, { sweepInterval: 0 });
      const denyA = new TokenDenylist(a.engine);
      const denyB = new TokenDenylist(b.engine);
      const openB = new TokenDenylist(b.engine, { denylist: { whenUnavailable: 'open' } });
      try {
        const doomed = await sessionsA.create({ userId: 'alice', userAgent: 'before' });
        const survivor = await sessionsA.create({ userId: 'alice', userAgent: 'kept' });
        const bobs = await Promise.all([1, 2].map(() => sessionsA.create({ userId: 'bob' })));
        expect(await sessionsB.validate(doomed.sessionId)).not.toBeNull();

        if (how === 'paused (SIGSTOP)') server.pause();
        else await server.kill();

        // A, during the outage.
        const outageStart = Date.now();
        const born = await sessionsA.create({ userId: 'alice', userAgent: 'during', data: { made: 'offline' } });
        await waitUntil(() => a.engine.mode() === 'fallback', { timeoutMs: 5_000, what: 'instance A on its fallback' });
        expect(await sessionsA.revoke(doomed.sessionId)).toBe(true);
        expect(await sessionsA.revokeAll('bob')).toBe(0); // only Redis knows bob's sessions; queued anyway
        expect(await denyA.deny({ jti: 'jwt-1', iss: 'https://issuer.example', exp: Math.floor(Date.now() / 1000) + 600 })).toBe(true);

        // Nobody can verify a session Redis holds ("could not check", not "invalid"); the default
        // rejects even A's own new one.
        await expect(sessionsA.validate(survivor.sessionId)).rejects.toMatchObject({ code: 'E_SESSION_UNAVAILABLE' });
        await expect(sessionsA.validate(born.sessionId)).rejects.toMatchObject({ code: 'E_SESSION_UNAVAILABLE' });
        expect(await localA.validate(born.sessionId)).toMatchObject({ userId: 'alice', userAgent: 'during', data: { made: 'offline' } });
        await expect(localA.validate(survivor.sessionId)).rejects.toMatchObject({ code: 'E_SESSION_UNAVAILABLE' });
        expect(await sessionsA.refresh(survivor.refreshToken)).toBeNull();
        await expect(sessionsB.validate(survivor.sessionId)).rejects.toMatchObject({ code: 'E_SESSION_UNAVAILABLE' });
        // The deny-list fails closed: B cannot ask Redis, so every token counts as denied...
        expect(await denyB.isDenied({ jti: 'never-denied', iss: 'https://issuer.example' })).toBe(true);
        // ...unless configured open, where B answers from what it knows (nothing).
        expect(await openB.isDenied({ jti: 'jwt-1', iss: 'https://issuer.example' })).toBe(false);
        expect((await sessionsA.stats()).counters.rejectedWhileUnavailable).toBeGreaterThan(0);

        if (how === 'paused (SIGSTOP)') server.resume();
        else await server.start();
        await waitUntil(() => backOnRedis(a) && backOnRedis(b), { timeoutMs: 30_000, what: 'both instances back on Redis with A’s journal replayed' });

        // B sees what A did while Redis was away.
        const seen = await sessionsB.validate(born.sessionId);
        expect(seen).toMatchObject({ userId: 'alice', userAgent: 'during', data: { made: 'offline' } });
        // Its absolute deadline counts from the outage, not from the replay.
        expect(seen!.createdAt).toBeLessThanOrEqual(Date.now());
        expect(seen!.absoluteExpiresAt - 8 * 3_600_000).toBeGreaterThanOrEqual(outageStart - 1_000);
        expect(await sessionsB.validate(doomed.sessionId)).toBeNull();
        expect(await sessionsB.refresh(doomed.refreshToken)).toBeNull();
        for (const s of bobs) expect(await sessionsB.validate(s.sessionId)).toBeNull();
        expect(await sessionsB.validate(survivor.sessionId)).toMatchObject({ userAgent: 'kept' });
        expect(await denyB.isDenied({ jti: 'jwt-1', iss: 'https://issuer.example' })).toBe(true);
        expect(await denyB.isDenied({ jti: 'never-denied', iss: 'https://issuer.example' })).toBe(false);
        expect((await sessionsB.list('alice')).map((e) => e.userAgent).sort()).toEqual(['during', 'kept']);
        // And A, on Redis again, agrees.
        expect(await sessionsA.validate(doomed.sessionId)).toBeNull();
        expect(await sessionsA.validate(born.sessionId)).not.toBeNull();
      } finally {
        for (const s of [sessionsA, localA, sessionsB]) s.close();
      }
    });
  }

  it("fallback 'none': validation and the deny-list fail closed", async () => {
    const server = await startRedis();
    servers.push(server);
    const c = await instance(server.url, 'none');
    connections.push(c);
    const sessions = new SessionService(c.engine, { sweepInterval: 0 });
    const denylist = new TokenDenylist(c.engine);
    const s = await sessions.create({ userId: 'carol' });
    await server.kill();
    await waitUntil(() => c.engine.mode() === 'unavailable', { timeoutMs: 5_000, what: 'the breaker to open' });
    await expect(sessions.validate(s.sessionId)).rejects.toMatchObject({ code: 'E_SESSION_UNAVAILABLE' });
    expect(await denylist.isDenied({ jti: 'x', iss: 'y' })).toBe(true);
    await expect(sessions.create({ userId: 'carol' })).rejects.toMatchObject({ code: 'E_REDIS_UNAVAILABLE' });
    sessions.close();
  });
});
