import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { SessionService } from '../../src/session/session.service.js';
import { TokenDenylist } from '../../src/session/token-denylist.service.js';
import { startSentinelGroup, type SentinelGroupHandle } from '@nestjs-redis-kit/test-support';
import { waitUntil } from '@nestjs-redis-kit/test-support';
import { runSessionSuite } from './session.behaviour.js';

let group: SentinelGroupHandle | undefined;

async function connect(keyPrefix: string) {
  group ??= await startSentinelGroup({ downAfterMs: 1_000, failoverTimeoutMs: 3_000 });
  const connection = new RedisConnection(
    resolveRedisOptions({ sentinel: { name: group.name, sentinels: group.sentinelAddresses }, keyPrefix, commandTimeoutMs: 500, connectTimeoutMs: 5_000 }),
  );
  await connection.onModuleInit();
  return connection;
}

runSessionSuite('Redis Sentinel (through the fallback engine)', async () => {
  const connection = await connect('suite:');
  return { engine: connection.engine, close: () => connection.onApplicationShutdown() };
});

describe("durability: 'replicated' on Sentinel", () => {
  let connection: RedisConnection;
  let sessions: SessionService;
  let denylist: TokenDenylist;

  beforeAll(async () => {
    connection = await connect('durable:');
    sessions = new SessionService(connection.engine, { durability: 'replicated', replicationTimeout: '500ms', sweepInterval: 0 });
    denylist = new TokenDenylist(connection.engine, { durability: 'replicated', replicationTimeout: '500ms' });
  });
  afterAll(async () => {
    sessions?.close();
    await connection?.onApplicationShutdown();
    await group?.stop();
  });

  it('reports a revocation no replica acknowledged (replica frozen)', async () => {
    const unconfirmed: string[] = [];
    sessions.on('replication-unconfirmed', (e) => unconfirmed.push(e.operation));
    const s = await sessions.create({ userId: 'frozen-replica' });
    group!.replica.pause();
    try {
      expect(await sessions.revoke(s.sessionId)).toBe(true);
    } finally {
      group!.replica.resume();
    }
    expect(unconfirmed).toEqual(['revoke']);
    expect((await sessions.stats()).counters.replicationUnconfirmed).toBe(1);
  });

  it('a revocation acknowledged by WAIT survives the master being killed right after', async () => {
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const created = await Promise.all(users.flatMap((userId) => [1, 2].map(() => sessions.create({ userId }))));
    const confirmedBefore = (await sessions.stats()).counters.replicationConfirmed;
    const revoked = created.filter((_, i) => i % 2 === 0);
    for (const s of revoked) expect(await sessions.revoke(s.sessionId)).toBe(true);
    expect(await sessions.revokeAll('u5')).toBe(1);
    expect(await denylist.deny({ jti: 'jwt-failover', iss: 'https://issuer.example', exp: Math.floor(Date.now() / 1000) + 600 })).toBe(true);
    // Every revocation was acknowledged by the replica before the call returned.
    expect((await sessions.stats()).counters.replicationConfirmed - confirmedBefore).toBe(revoked.length + 1);
    expect(denylist.stats().replicationUnconfirmed).toBe(0);

    const oldPort = group!.master.port;
    await group!.master.kill();
    const promoted = await group!.waitForFailover(oldPort, 30_000);
    expect(promoted.port).toBe(group!.replica.port);
    await waitUntil(async () => connection.engine.mode() === 'redis' && (await connection.engine.time()) > 0 && connection.status() === 'connected', {
      timeoutMs: 30_000,
      what: 'the app on the promoted master',
    });

    for (const s of revoked) expect(await sessions.validate(s.sessionId)).toBeNull();
    for (const s of created.filter((_, i) => i % 2 === 1 && i !== 9)) expect(await sessions.validate(s.sessionId)).not.toBeNull();
    expect(await sessions.validate(created[9]!.sessionId)).toBeNull();
    expect(await denylist.isDenied({ jti: 'jwt-failover', iss: 'https://issuer.example' })).toBe(true);
  });
});
