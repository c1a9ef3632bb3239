import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster } from 'ioredis';
import { runSessionSuite } from './session.behaviour.js';
import { runTwinEquivalence } from './session.twins.js';
import { startCluster, type RedisClusterHandle } from '@nestjs-redis-kit/test-support';
import { RedisEngine } from '../../src/engine/redis.engine.js';
import { SessionService } from '../../src/session/session.service.js';

let cluster: RedisClusterHandle | undefined;
let users = 0;

async function open(keyPrefix: string) {
  cluster ??= await startCluster({ masters: 3, replicasPerMaster: 0 });
  users++;
  const client = new Cluster(cluster.seeds);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  const engine = new RedisEngine(client, { keyPrefix });
  return {
    engine,
    close: async () => {
      await engine.close();
      client.disconnect();
      if (--users === 0) {
        await cluster?.stop();
        cluster = undefined;
      }
    },
  };
}

runSessionSuite('Redis Cluster', () => open('app:'));
runTwinEquivalence('Redis Cluster', () => open('twin:'));

describe("durability: 'replicated' on a Cluster without replicas", () => {
  let target: Awaited<ReturnType<typeof open>>;
  beforeAll(async () => {
    target = await open('dur:');
  });
  afterAll(async () => {
    await target?.close();
  });

  it('asks every master with WAIT and reports the revocation as unconfirmed', async () => {
    const sessions = new SessionService(target.engine, { durability: 'replicated', sweepInterval: 0 });
    const events: string[] = [];
    sessions.on('replication-unconfirmed', (e) => events.push(e.operation));
    const s = await sessions.create({ userId: 'cluster-user' });
    expect(await sessions.revoke(s.sessionId)).toBe(true);
    expect(await sessions.revokeAll('cluster-user')).toBe(0);
    expect(events).toEqual(['revoke', 'revokeAll']);
    expect(await target.engine.wait(1, 50)).toBe(0);
    sessions.close();
  });
});
