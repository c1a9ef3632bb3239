import { afterAll, describe, expect, it } from '@jest/globals';
import { Partition, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions, type RedisModuleOptions } from '../../src/redis.options.js';
import { SessionService } from '../../src/session/session.service.js';

/*
 * A revocation made while an instance is cut off from Redis lives only in that instance's journal
 * until it replays; every other instance keeps accepting the session until then. These tests bound
 * that window: how soon the instance replays once Redis is back, and what its shutdown does first.
 */
const servers: RedisProcess[] = [];
const connections: RedisConnection[] = [];
const partitions: Partition[] = [];
const services: SessionService[] = [];
afterAll(async () => {
  for (const s of services) s.close();
  for (const c of connections) await c.onApplicationShutdown();
  for (const p of partitions) await p.cut();
  for (const s of servers) await s.destroy();
});

type Instance = Awaited<ReturnType<typeof sessionsOn>>;

async function sessionsOn(url: string, options: Partial<RedisModuleOptions> = {}) {
  const connection = new RedisConnection(resolveRedisOptions({ url, keyPrefix: 'rcu:', commandTimeoutMs: 200, ...options }));
  connections.push(connection);
  await connection.onModuleInit();
  const sessions = new SessionService(connection.engine, { sweepInterval: 0 });
  services.push(sessions);
  await sessions.onModuleInit();
  return { connection, sessions };
}

/** A revokes B's session while cut off; B may be unable to answer then too (a killed or hung Redis). */
async function revokedWhileCutOff(a: Instance, b: Instance, cut: () => Promise<void>) {
  const victim = await b.sessions.create({ userId: 'victim' });
  expect(await a.sessions.validate(victim.sessionId)).not.toBeNull();
  await cut();
  // A hung Redis closes no socket: A learns of it from calls that miss their deadline.
  await waitUntil(async () => (await a.sessions.validate(victim.sessionId).catch(() => undefined), a.connection.engine.mode() === 'fallback'), { timeoutMs: 10_000, what: 'A on its fallback' });
  expect(await a.sessions.revoke(victim.sessionId)).toBe(true);
  return victim;
}

/** Until B refuses the session clearly: B may be catching up itself for a moment, and "unavailable" is no answer. */
function refusedByB(b: Instance, sessionId: string, timeoutMs: number) {
  return waitUntil(async () => (await b.sessions.validate(sessionId).catch(() => 'unavailable')) === null, { timeoutMs, intervalMs: 25, what: 'B refusing the revoked session' });
}

describe('revocations made during an outage reach the other instances soon after Redis returns', () => {
  /** Milliseconds from `heal` until B stops accepting the session A revoked while cut off. */
  async function window(a: Instance, b: Instance, cut: () => Promise<void>, heal: () => Promise<void>): Promise<number> {
    const victim = await revokedWhileCutOff(a, b, cut);
    // Long enough for the probe backoff to reach its ceiling: the default breaker settings on purpose.
    await new Promise((r) => setTimeout(r, 8_000));
    const seenByB = await b.sessions.validate(victim.sessionId).catch(() => 'unavailable');
    if (seenByB !== 'unavailable') expect(seenByB).not.toBeNull(); // B cannot know yet
    await heal();
    const healed = performance.now();
    await refusedByB(b, victim.sessionId, 20_000);
    const ms = performance.now() - healed;
    process.stdout.write(`revocation window after heal: ${Math.round(ms)} ms\n`);
    return ms;
  }

  it('after a partition heals, within 2.5 s', async () => {
    const server = await startRedis();
    servers.push(server);
    const hop = await Partition.open(server.port);
    partitions.push(hop);
    const ms = await window(await sessionsOn(hop.url), await sessionsOn(server.url), () => hop.cut(), () => hop.heal());
    expect(ms).toBeLessThan(2_500);
  }, 60_000);

  it('after Redis restarts, within 2.5 s of it answering', async () => {
    const server = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    servers.push(server);
    const ms = await window(await sessionsOn(server.url), await sessionsOn(server.url), () => server.kill(), () => server.start());
    expect(ms).toBeLessThan(2_500);
  }, 60_000);

  it('after a hung Redis (SIGSTOP) resumes, within 2.5 s', async () => {
    const server = await startRedis();
    servers.push(server);
    const ms = await window(await sessionsOn(server.url), await sessionsOn(server.url), async () => server.pause(), async () => server.resume());
    expect(ms).toBeLessThan(2_500);
  }, 60_000);
});

/**
 * A rolling deploy during an outage stops instances that hold revocations only in their journal.
 * Shutdown waits a bounded grace for Redis to take them, so a Redis that comes back within it
 * loses nothing, and one that does not still lets the process stop on time.
 */
describe('shutdown waits a bounded grace for Redis to take the outage journal', () => {
  async function revokedDuringOutage(server: RedisProcess, options: Partial<RedisModuleOptions>) {
    const a = await sessionsOn(server.url, options);
    const b = await sessionsOn(server.url);
    const victim = await revokedWhileCutOff(a, b, () => server.kill());
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
    await refusedByB(b, victim.sessionId, 20_000);
  }, 60_000);

  it('Redis still away: shutdown gives up after the grace', async () => {
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
