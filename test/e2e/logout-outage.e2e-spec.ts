import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { bootDemo, bootGateway, call, clearAppEnv, SECRET, setEnv, snapshotEnv, type Running } from './e2e.fixture.js';

/**
 * A user logs out while Redis is away: the session cannot be checked first, but the revocation
 * must still be recorded (journaled), so the session does not come back with Redis. A session
 * that cannot be checked is answered 503 (try again), not 401 (log in again).
 */
describe('logging out through the gateway while Redis is away', () => {
  const restoreEnv = snapshotEnv();
  let redis: RedisProcess;
  let db: DemoDatabase;
  let A: Running, G: Running;

  beforeAll(async () => {
    redis = await startRedis();
    clearAppEnv();
    setEnv({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '200', GATEWAY_SHARED_SECRET: SECRET, GATEWAY_RATE_LIMIT: '100000', DEMO_CACHE: undefined });
    db = await DemoDatabase.open({ path: ':memory:', latencyMs: 1 });
    A = await bootDemo(db);
    G = await bootGateway([A.url]);
  });

  afterAll(async () => {
    for (const r of [G, A]) await r?.app.close();
    db?.onApplicationShutdown();
    await redis?.destroy();
    restoreEnv();
  });

  it('answers 503 while the session cannot be checked, records the logout, and the session stays ended when Redis returns', async () => {
    const login = await call(G.url, 'POST', '/api/auth/login', { body: { email: 'alice@example.com', password: 'demo-password' } });
    expect(login.status).toBe(200);
    const token = login.body.sessionId as string;
    expect((await call(G.url, 'GET', '/api/auth/sessions', { token })).status).toBe(200);

    redis.pause();
    try {
      await waitUntil(async () => (await call(G.url, 'GET', '/api/auth/sessions', { token })).status === 503, { timeoutMs: 10_000, what: 'the gateway answering 503 for an uncheckable session' });
      const out = await call(G.url, 'POST', '/api/auth/logout', { token });
      expect(out.status).toBe(200);
      expect(out.body).toEqual({ revoked: true });
    } finally {
      redis.resume();
    }
    await waitUntil(async () => (await Promise.all([A, G].map((r) => call(r.url, 'GET', '/')))).every((r) => r.body.redis === 'connected'), {
      timeoutMs: 15_000,
      what: 'demo and gateway back on Redis',
    });
    await waitUntil(async () => (await call(G.url, 'GET', '/api/auth/sessions', { token })).status !== 503, { timeoutMs: 15_000, what: 'sessions checkable again' });
    expect((await call(G.url, 'GET', '/api/auth/sessions', { token })).status).toBe(401);
    expect((await call(A.url, 'GET', '/auth/sessions', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });
});
