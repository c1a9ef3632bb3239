import { afterAll, describe, expect, it } from '@jest/globals';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions, type RedisModuleOptions } from '../../src/redis.options.js';
import { SessionService } from '../../src/session/session.service.js';

/**
 * A rolling deploy during an outage stops instances that hold revocations only in their journal.
 * Shutdown waits a bounded grace for Redis to take them, so a Redis that comes back within it
 * loses nothing, and one that does not still lets the process stop on time.
 */
describe('shutdown waits a bounded grace for Redis to take the outage journal', () => {
  const servers: RedisProcess[] = [];
  const connections: RedisConnection[] = [];
  const services: SessionService[] = [];
  afterAll(async () => {
    for (const s of services) s.close();
    for (const c of connections) await c.onApplicationShutdown();
    for (const s of servers) await s.destroy();
  });

  async function sessionsOn(url: string, options: Partial<RedisModuleOptions> = {}) {
    const connection = new RedisConnection(resolveRedisOptions({ url, keyPrefix: 'sdd:', commandTimeoutMs: 200, ...options }));
    connections.push(connection);
    await connection.onModuleInit();
    const sessions = new SessionService(connection.engine, { sweepInterval: 0 });
    services.push(sessions);
    await sessions.onModuleInit();
    return { connection, sessions };
  }

  async function revokedDuringOutage(server: RedisProcess, options: Partial<RedisModuleOptions> = {}) {
    const a = await sessionsOn(server.url, options);
    const b = await sessionsOn(server.url);
    const victim = await b.sessions.create({ userId: 'victim' });
    await server.kill();
    await waitUntil(() => a.connection.engine.mode() === 'fallback', { timeoutMs: 10_000, what: 'A on its fallback' });
    expect(await a.sessions.revoke(victim.sessionId)).toBe(true);
    return { a, b, victim };
  }

  it('Redis back within the grace: the revocation A made during the outage is on Redis after A shut down', async () => {
    const server = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    servers.push(server);
    const { a, b, victim } = await revokedDuringOutage(server, { breaker: { shutdownGraceMs: 10_000 } });
    const closing = a.connection.onApplicationShutdown();
    await new Promise((r) => setTimeout(r, 500));
    await server.start();
    await closing;
    await waitUntil(async () => (await b.sessions.validate(victim.sessionId).catch(() => 'unavailable')) === null, { timeoutMs: 20_000, what: 'B refusing the session A revoked' });
  }, 60_000);

  it('Redis still away: shutdown gives up after the grace and says what it lost', async () => {
    const server = await startRedis();
    servers.push(server);
    const { a } = await revokedDuringOutage(server, { breaker: { shutdownGraceMs: 1_000 } });
    const started = performance.now();
    await a.connection.onApplicationShutdown();
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(5_000);
  }, 60_000);

  it('shutdownGraceMs: 0 shuts down at once; a negative grace is refused by name', async () => {
    const server = await startRedis();
    servers.push(server);
    const { a } = await revokedDuringOutage(server, { breaker: { shutdownGraceMs: 0 } });
    const started = performance.now();
    await a.connection.onApplicationShutdown();
    expect(performance.now() - started).toBeLessThan(500);
    expect(() => resolveRedisOptions({ url: server.url, breaker: { shutdownGraceMs: -1 } })).toThrow(/breaker\.shutdownGraceMs/);
  }, 60_000);
});
