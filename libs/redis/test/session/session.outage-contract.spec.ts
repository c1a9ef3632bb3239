import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { Partition, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import type { FallbackEngine } from '../../src/engine/fallback.engine.js';
import type { ReplayRefused } from '../../src/engine/store-engine.types.js';
import { JournalFullError } from '../../src/redis.errors.js';
import { resolveRedisOptions, type RedisModuleOptions } from '../../src/redis.options.js';
import { SessionUnavailableError } from '../../src/session/session.errors.js';
import { SessionService } from '../../src/session/session.service.js';
import { TokenDenylist } from '../../src/session/token-denylist.service.js';

describe('sessions and the deny-list under the outage contract', () => {
  const servers: RedisProcess[] = [];
  const connections: RedisConnection[] = [];
  const partitions: Partition[] = [];
  const services: Array<{ close(): void }> = [];
  afterAll(async () => {
    for (const s of services) s.close();
    for (const c of connections) await c.onApplicationShutdown();
    for (const p of partitions) await p.cut();
    for (const s of servers) await s.destroy();
  });

  async function instance(url: string, options: Partial<RedisModuleOptions> = {}): Promise<RedisConnection> {
    const c = new RedisConnection(resolveRedisOptions({ url, keyPrefix: 'soc:', commandTimeoutMs: 200, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 500 }, ...options }));
    connections.push(c);
    await c.onModuleInit();
    return c;
  }
  function sessionsOn(c: RedisConnection) {
    const sessions = new SessionService(c.engine, { sweepInterval: 0 });
    const denylist = new TokenDenylist(c.engine);
    services.push(sessions);
    return { sessions, denylist };
  }
  const backOnRedis = (c: RedisConnection) => c.status() === 'connected' && (c.engine as FallbackEngine).stats().journalSize === 0;
  const exp = () => Math.floor(Date.now() / 1000) + 600;

  it('A partitioned creates sessions, B runs revokeAll(alice), A recovers and replays: B validates the replayed alice session as null, the others as sessions', async () => {
    const server = await startRedis();
    servers.push(server);
    const hop = await Partition.open(server.port);
    partitions.push(hop);
    const a = await instance(hop.url);
    const b = await instance(server.url);
    const A = sessionsOn(a);
    const B = sessionsOn(b);
    // Sessions exist on this Redis already (so does its generated secret); A, starting as Nest
    // starts it, learns that secret while Redis still answers.
    await B.sessions.create({ userId: 'earlier' });
    await A.sessions.onModuleInit();

    await hop.cut();
    await waitUntil(() => a.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'A on its fallback' });
    const alice = await A.sessions.create({ userId: 'alice', userAgent: 'partitioned' });
    const bob = await A.sessions.create({ userId: 'bob' });
    // A's own "log out everywhere" followed by a new login, both during the partition: the login
    // came after the revocation, so it must survive the replay.
    await A.sessions.revokeAll('carol');
    const carol = await A.sessions.create({ userId: 'carol' });
    expect(await B.sessions.revokeAll('alice')).toBe(0); // B is on Redis: it knows no session of A's

    await hop.heal();
    await waitUntil(() => backOnRedis(a), { timeoutMs: 15_000, what: 'A back on Redis with its journal replayed' });

    expect(await B.sessions.validate(alice.sessionId)).toBeNull();
    expect(await A.sessions.validate(alice.sessionId)).toBeNull();
    expect(await B.sessions.validate(bob.sessionId)).toMatchObject({ userId: 'bob' });
    expect(await B.sessions.validate(carol.sessionId)).toMatchObject({ userId: 'carol' });
  });

  it('journal overflow: among 200 logins, a revoke and a deny are never dropped; a login the journal cannot keep fails loudly; a full security journal refuses the call', async () => {
    const server = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    servers.push(server);
    const a = await instance(server.url, { breaker: { journalLimit: 100, securityJournalLimit: 3, probeIntervalMs: 100, maxProbeIntervalMs: 500 } });
    const b = await instance(server.url);
    const A = sessionsOn(a);
    const B = sessionsOn(b);
    const doomed = await A.sessions.create({ userId: 'dora' });
    const spare = await A.sessions.create({ userId: 'dora' });

    await server.kill();
    await waitUntil(() => a.engine.mode() === 'fallback', { timeoutMs: 10_000, what: 'A on its fallback' });
    const logins = async (n: number) =>
      Promise.allSettled(Array.from({ length: n }, (_, i) => A.sessions.create({ userId: `user${i % 7}` })));
    const before = await logins(50);
    expect(await A.sessions.revoke(doomed.sessionId)).toBe(true);
    expect(await A.denylist.deny({ jti: 'jwt-overflow', iss: 'iss', exp: exp() })).toBe(true);
    const after = await logins(150);
    // The security journal holds 3: a third security write fits, the fourth is refused, loudly.
    expect(await A.denylist.deny({ jti: 'jwt-third', iss: 'iss', exp: exp() })).toBe(true);
    await expect(A.sessions.revoke(spare.sessionId)).rejects.toBeInstanceOf(JournalFullError);
    await expect(A.denylist.deny({ jti: 'jwt-fourth', iss: 'iss', exp: exp() })).rejects.toMatchObject({ code: 'E_JOURNAL_FULL' });

    const settled = [...before, ...after];
    const kept = settled.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ sessionId: string }>).value);
    const refused = settled.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(kept.length).toBe(100);
    expect(refused.length).toBe(100);
    for (const error of refused) expect(error).toBeInstanceOf(JournalFullError);

    await server.start();
    await waitUntil(() => backOnRedis(a) && b.status() === 'connected', { timeoutMs: 20_000, what: 'both back on Redis with A’s journal replayed' });
    expect(await B.sessions.validate(doomed.sessionId)).toBeNull();
    expect(await B.denylist.isDenied({ jti: 'jwt-overflow', iss: 'iss' })).toBe(true);
    expect(await B.denylist.isDenied({ jti: 'jwt-third', iss: 'iss' })).toBe(true);
    // The refused revocation was refused, not queued: the session is still live, as the caller was told.
    expect(await B.sessions.validate(spare.sessionId)).not.toBeNull();
    // Every login the caller was told succeeded is on Redis.
    for (const s of kept) expect(await B.sessions.validate(s.sessionId)).not.toBeNull();
  });

  /**
   * Instance A behind a partition: `before` runs while connected, `during` while cut off; then
   * Redis is put out of memory under `noeviction` (left in place) and the partition heals, so A
   * replays into a Redis that refuses writes. `after` runs once A is connected again; Redis takes
   * writes again when it calls `admin.config('SET', 'maxmemory', '0')`.
   */
  async function refusedReplay<T>(
    before: (A: ReturnType<typeof sessionsOn>, admin: Redis) => Promise<T>,
    during: (A: ReturnType<typeof sessionsOn>) => Promise<void>,
    after: (context: { a: RedisConnection; A: ReturnType<typeof sessionsOn>; admin: Redis; reports: ReplayRefused[]; kept: T }) => Promise<void>,
  ): Promise<void> {
    const server = await startRedis();
    servers.push(server);
    const hop = await Partition.open(server.port);
    partitions.push(hop);
    const a = await instance(hop.url);
    const A = sessionsOn(a);
    const reports: ReplayRefused[] = [];
    a.engine.onReplayRefused((r) => reports.push(r));
    const admin = new Redis(server.port, '127.0.0.1');
    try {
      const kept = await before(A, admin);
      await hop.cut();
      await waitUntil(() => a.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'A on its fallback' });
      await during(A);
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      await hop.heal();
      const returned = performance.now();
      await waitUntil(() => a.status() === 'connected', { timeoutMs: 15_000, what: 'A back on Redis despite the refused write' });
      expect(performance.now() - returned).toBeLessThan(15_000);
      await after({ a, A, admin, reports, kept });
    } finally {
      await admin.config('SET', 'maxmemory', '0').catch(() => undefined);
      admin.disconnect();
    }
  }

  it('a write Redis keeps refusing on replay (OOM under noeviction, left in place): back on Redis within 15 s, the write reported, the deny-list kept fail-closed until it is written', async () => {
    await refusedReplay(
      async (A, admin) => {
        await admin.set('soc:plain', 'from-redis');
        return A.sessions.create({ userId: 'erin' });
      },
      async (A) => {
        expect(await A.denylist.deny({ jti: 'jwt-refused', iss: 'iss', exp: exp() })).toBe(true);
      },
      async ({ a, A, admin, reports, kept: live }) => {
        // Reported: an event naming the capability, and a counter.
        expect(reports).toEqual([expect.objectContaining({ capability: 'denylist', reason: 'OOM', outcome: 'held' })]);
        expect(a.breakerStats()).toMatchObject({ replayRefused: 1, refusedHeld: 1 });
        expect(a.engine.refusedWrites('denylist')).toBe(1);
        // Everything else is served by Redis again...
        expect(a.engine.mode()).toBe('redis');
        expect(await a.engine.get('plain')).toBe('from-redis');
        expect(await A.sessions.validate(live.sessionId)).toMatchObject({ userId: 'erin' });
        // ...while the deny-list, missing a deny on Redis, fails closed.
        expect(await A.denylist.isDenied({ jti: 'never-denied', iss: 'iss' })).toBe(true);

        // Once Redis takes writes again, the held deny is written and the deny-list answers normally.
        await admin.config('SET', 'maxmemory', '0');
        await waitUntil(() => a.engine.refusedWrites('denylist') === 0, { timeoutMs: 15_000, what: 'the held deny written' });
        expect(await A.denylist.isDenied({ jti: 'never-denied', iss: 'iss' })).toBe(false);
        expect(await A.denylist.isDenied({ jti: 'jwt-refused', iss: 'iss' })).toBe(true);
        // Written once, counted out once: nothing is pending, and the next outage's count starts from zero.
        expect(a.breakerStats()).toMatchObject({ securityJournalSize: 0, refusedHeld: 0 });
      },
    );
  });

  it('a refused session revocation keeps validate() failing closed (SessionUnavailableError) until it is written', async () => {
    await refusedReplay(
      (A) => A.sessions.create({ userId: 'fred' }),
      // fred has no session in this instance's store: replayed, revokeAll only sets his
      // revocation epoch, a write OOM refuses.
      async (A) => void (await A.sessions.revokeAll('fred')),
      async ({ a, A, admin, kept: s }) => {
        expect(a.engine.refusedWrites('session')).toBe(1);
        await expect(A.sessions.validate(s.sessionId)).rejects.toBeInstanceOf(SessionUnavailableError);
        await admin.config('SET', 'maxmemory', '0');
        await waitUntil(() => a.engine.refusedWrites('session') === 0, { timeoutMs: 15_000, what: 'the held revocation written' });
        expect(await A.sessions.validate(s.sessionId)).toBeNull();
      },
    );
  });
});
