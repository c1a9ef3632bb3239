import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sharedRedisEngines } from '../redis-targets.js';
import { SessionService } from '../../src/session/session.service.js';
import { runSessionSuite } from './session.behaviour.js';

const open = sharedRedisEngines('cluster');

runSessionSuite('Redis Cluster', () => open('app:'));

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
