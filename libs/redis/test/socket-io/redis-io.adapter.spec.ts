import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { closeClients, connect, startInstance, type IoInstance, type TestClient } from './socket-io.fixture.js';

/** Emits on `from` until `client` has seen the event: cross-instance delivery is eventually on. */
async function deliveredAcross(from: IoInstance, client: TestClient, event: string, timeoutMs: number): Promise<void> {
  let n = 0;
  await waitUntil(
    () => {
      from.gateway.server.emit(event, `probe-${++n}`);
      return client.received(event).length > 0;
    },
    { timeoutMs, intervalMs: 200, what: `"${event}" from one instance reaching a client of the other` },
  );
}

describe('RedisIoAdapter on a standalone Redis: two instances, one Redis', () => {
  let redis: RedisProcess;
  let a: IoInstance;
  let b: IoInstance;
  const rejections: unknown[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  const onRejection = (reason: unknown) => rejections.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    redis = await startRedis();
    const options = { url: redis.url, keyPrefix: 'io-test:' };
    // Re-validation an hour apart: a prompt disconnect below can only come from the revocation notice.
    a = await startInstance(options, { authenticate: true, revalidateEvery: '1h' });
    b = await startInstance(options, { authenticate: true, revalidateEvery: '1h' });
  }, 60_000);

  afterEach(async () => {
    closeClients();
    for (const close of cleanup.splice(0)) await close();
  });

  afterAll(async () => {
    closeClients();
    await a?.close();
    await b?.close();
    await redis?.stop();
    process.off('unhandledRejection', onRejection);
  });

  it('a broadcast on instance A reaches a client connected to instance B', async () => {
    const { sessionId } = await a.sessions.create({ userId: 'alice' });
    const onB = await connect(b.url, { token: sessionId });
    await deliveredAcross(a, onB, 'news', 10_000);
    a.gateway.server.emit('news', 'hello from A');
    await onB.waitFor('news', (p) => p === 'hello from A');
  });

  it("an authenticated socket carries the user and session and is in the user's room on every instance", async () => {
    const { sessionId } = await a.sessions.create({ userId: 'bob' });
    const onA = await connect(a.url, { token: sessionId });
    onA.socket.emit('whoami');
    const me = (await onA.waitFor('me')) as { user: string; data: { userId: string; sessionId: string } };
    expect(me.user).toBe('bob');
    expect(me.data).toMatchObject({ userId: 'bob', sessionId });
    // The room is per user, reachable from the other instance too.
    await waitUntil(
      () => {
        b.gateway.server.to('user:bob').emit('dm', 'for bob');
        return onA.received('dm').length > 0;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'a message to room user:bob from instance B' },
    );
  });

  it("fetchSockets on one instance lists the user's sockets on both", async () => {
    const { sessionId } = await a.sessions.create({ userId: 'mallory' });
    const onA = await connect(a.url, { token: sessionId });
    const onB = await connect(b.url, { token: sessionId });
    const found = await a.gateway.server.in('user:mallory').fetchSockets();
    expect(found.map((s) => s.id).sort()).toEqual([onA.socket.id, onB.socket.id].sort());
    expect(found.every((s) => s.data.userId === 'mallory')).toBe(true);
  });

  it('the session cookie authenticates too', async () => {
    const { sessionId } = await b.sessions.create({ userId: 'carol' });
    const client = await connect(a.url, { cookie: `theme=dark; sid=${sessionId}` });
    client.socket.emit('whoami');
    expect(((await client.waitFor('me')) as { user: string }).user).toBe('carol');
  });

  it('a missing, malformed or revoked session gets connect_error E_SESSION_INVALID', async () => {
    await expect(connect(a.url)).rejects.toMatchObject({ message: 'E_SESSION_INVALID' });
    await expect(connect(a.url, { token: 'not-a-session' })).rejects.toMatchObject({ message: 'E_SESSION_INVALID', data: { code: 'E_SESSION_INVALID' } });
    const { sessionId } = await a.sessions.create({ userId: 'dave' });
    await a.sessions.revoke(sessionId);
    await expect(connect(b.url, { token: sessionId })).rejects.toMatchObject({ message: 'E_SESSION_INVALID' });
  });

  it("revoke on A disconnects that session's sockets on A and on B, and no other session's", async () => {
    const s1 = await a.sessions.create({ userId: 'erin' });
    const s2 = await a.sessions.create({ userId: 'erin' });
    const onA = await connect(a.url, { token: s1.sessionId });
    const onB = await connect(b.url, { token: s1.sessionId });
    const other = await connect(b.url, { token: s2.sessionId });
    expect(await a.sessions.revoke(s1.sessionId)).toBe(true);
    await waitUntil(() => !onA.socket.connected && !onB.socket.connected, { timeoutMs: 5_000, what: 'both sockets of the revoked session disconnected' });
    expect(onA.disconnectReason).toBe('io server disconnect');
    expect(onB.disconnectReason).toBe('io server disconnect');
    expect(other.socket.connected).toBe(true);
  });

  it("revokeAll on B disconnects the user's sockets on both instances, except the kept session; other users stay", async () => {
    const keep = await a.sessions.create({ userId: 'frank' });
    const s1 = await a.sessions.create({ userId: 'frank' });
    const s2 = await b.sessions.create({ userId: 'frank' });
    const grace = await a.sessions.create({ userId: 'grace' });
    const f1 = await connect(a.url, { token: s1.sessionId });
    const f2 = await connect(b.url, { token: s2.sessionId });
    const fk = await connect(a.url, { token: keep.sessionId });
    const g = await connect(a.url, { token: grace.sessionId });
    expect(await b.sessions.revokeAll('frank', { except: keep.sessionId })).toBe(2);
    await waitUntil(() => !f1.socket.connected && !f2.socket.connected, { timeoutMs: 5_000, what: "frank's revoked sockets disconnected" });
    expect(fk.socket.connected).toBe(true);
    expect(g.socket.connected).toBe(true);
  });

  it('a session ended without a notice (its refresh token rotated it) loses its sockets at the next re-validation', async () => {
    const c = await startInstance({ url: redis.url, keyPrefix: 'io-test:' }, { authenticate: true, revalidateEvery: '1s' });
    try {
      const tokens = await a.sessions.create({ userId: 'olivia' });
      const onC = await connect(c.url, { token: tokens.sessionId });
      expect(await a.sessions.refresh(tokens.refreshToken)).not.toBeNull();
      // revalidateEvery is 1 s on this instance: well within this bound.
      await waitUntil(() => !onC.socket.connected, { timeoutMs: 10_000, what: 'the socket of the rotated-away session disconnected' });
      expect(onC.disconnectReason).toBe('io server disconnect');
    } finally {
      closeClients();
      await c.close();
    }
  });

  it('a socket event over its limit gets the exception event with code E_RATE_LIMITED and retryAfterMs; the socket stays open', async () => {
    const { sessionId } = await a.sessions.create({ userId: 'heidi' });
    const client = await connect(a.url, { token: sessionId });
    for (let i = 0; i < 5; i++) client.socket.emit('say', `m${i}`);
    await waitUntil(() => client.received('said').length + client.received('exception').length >= 5, { timeoutMs: 10_000, what: 'five answers' });
    expect(client.received('said')).toHaveLength(3);
    const refusals = client.received('exception') as Array<Record<string, unknown>>;
    expect(refusals).toHaveLength(2);
    for (const r of refusals) {
      expect(r).toMatchObject({ status: 'error', code: 'E_RATE_LIMITED' });
      expect(typeof r.message).toBe('string');
      expect(r.retryAfterMs as number).toBeGreaterThan(0);
    }
    // Per user, not per socket: a second socket of heidi on the other instance is refused too.
    const again = await connect(b.url, { token: sessionId });
    again.socket.emit('say', 'more');
    expect(await again.waitFor('exception')).toMatchObject({ code: 'E_RATE_LIMITED' });
    expect(client.socket.connected).toBe(true);
  });

  it('Redis hung (SIGSTOP): broadcasts still reach local sockets at once, and cross-instance delivery resumes when it answers again', async () => {
    const s = await a.sessions.create({ userId: 'nina' });
    const onA = await connect(a.url, { token: s.sessionId });
    const onB = await connect(b.url, { token: s.sessionId });
    await deliveredAcross(a, onB, 'pre-hang', 10_000);
    redis.pause();
    try {
      for (let i = 0; i < 200; i++) a.gateway.server.emit('hung', i);
      await onA.waitFor('hung', (p) => p === 199, 5_000);
      // Pending publishes fail at their deadline; none surfaces as an unhandled rejection.
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      redis.resume();
    }
    await deliveredAcross(a, onB, 'post-hang', 30_000);
    expect(rejections).toEqual([]);
  }, 60_000);

  it('Redis hung for long: broadcasts made once it stopped answering are not queued for it, so none arrives late on the other instance', async () => {
    const s = await a.sessions.create({ userId: 'otto' });
    const onA = await connect(a.url, { token: s.sessionId });
    const onB = await connect(b.url, { token: s.sessionId });
    await deliveredAcross(a, onB, 'pre-stall', 10_000);
    redis.pause();
    try {
      a.gateway.server.emit('stall-start', 0);
      // Well past the publish deadline (300 ms by default): Redis is known not to answer by now.
      await new Promise((r) => setTimeout(r, 2_000));
      for (let batch = 0; batch < 10; batch++) {
        for (let i = 0; i < 100; i++) a.gateway.server.emit('stalled', batch * 100 + i);
        await new Promise((r) => setTimeout(r, 50));
      }
      await onA.waitFor('stalled', (p) => p === 999, 5_000);
    } finally {
      redis.resume();
    }
    await deliveredAcross(a, onB, 'post-stall', 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(onA.received('stalled')).toHaveLength(1_000);
    expect(onB.received('stalled')).toEqual([]);
    expect(rejections).toEqual([]);
  }, 60_000);

  it('a long synchronous burst of broadcasts with Redis answering is not taken for a hang: every one reaches the other instance', async () => {
    const s = await a.sessions.create({ userId: 'pia' });
    const onB = await connect(b.url, { token: s.sessionId });
    await deliveredAcross(a, onB, 'pre-burst', 10_000);
    const started = Date.now();
    let sent = 0;
    // Longer than the publish deadline, with no reply read in between: the event loop is busy.
    while (Date.now() - started < 1_000 || sent < 1_000) a.gateway.server.emit('burst', sent++);
    await waitUntil(() => onB.received('burst').length === sent, { timeoutMs: 30_000, what: `all ${sent} burst broadcasts on the other instance` });
  }, 60_000);

  it('Redis killed mid-chat: each instance keeps serving its own sockets, nothing crashes, and cross-instance delivery resumes when Redis returns', async () => {
    const s = await a.sessions.create({ userId: 'ivan' });
    const onA = await connect(a.url, { token: s.sessionId });
    const onB = await connect(b.url, { token: s.sessionId });
    // A third instance re-validates every 500 ms, through the outage.
    const c = await startInstance({ url: redis.url, keyPrefix: 'io-test:' }, { authenticate: true, revalidateEvery: '500ms' });
    cleanup.push(() => c.close());
    const onC = await connect(c.url, { token: s.sessionId });
    await deliveredAcross(a, onB, 'before', 10_000);

    await redis.kill();
    // Local broadcasts still reach this instance's sockets, on both instances.
    a.gateway.server.emit('during-a', 'local on A');
    b.gateway.server.emit('during-b', 'local on B');
    await onA.waitFor('during-a');
    await onB.waitFor('during-b');
    // A new handshake cannot be checked now: refused as unavailable, not let in and not called invalid.
    const s2 = await waitUntil(() => a.sessions.create({ userId: 'ivan' }), { timeoutMs: 10_000, what: 'a session created during the outage' });
    await expect(connect(b.url, { token: s2.sessionId })).rejects.toMatchObject({ message: 'E_SESSION_UNAVAILABLE', data: { code: 'E_SESSION_UNAVAILABLE' } });
    // Keep broadcasting for a while with Redis gone: every publish fails, none may surface.
    for (let i = 0; i < 50; i++) a.gateway.server.emit('during-a', i);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(onA.socket.connected && onB.socket.connected && onC.socket.connected).toBe(true);
    expect(onA.received('during-a').length).toBe(51);
    expect(onB.received('during-a')).toHaveLength(0);

    // No answer about a session during the outage is no reason to drop its sockets (onC was re-validated several times).

    await redis.start();
    // The killed Redis kept no data, so the sessions above are gone (their sockets are dropped at the
    // next re-validation); the delivery check uses sessions made now.
    const [newA, newB] = await waitUntil(
      async () => {
        const fresh = await a.sessions.create({ userId: 'ivan' });
        return [await connect(a.url, { token: fresh.sessionId }), await connect(b.url, { token: fresh.sessionId })] as const;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'sockets authenticated after Redis returned' },
    );
    await deliveredAcross(a, newB, 'after', 30_000);
    await deliveredAcross(b, newA, 'after-b', 30_000);
    expect(rejections).toEqual([]);
  }, 90_000);
});

describe('RedisIoAdapter: apps with different key prefixes on one Redis do not hear each other', () => {
  let redis: RedisProcess;
  const instances: IoInstance[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    closeClients();
    for (const i of instances) await i.close();
    await redis?.stop();
  });

  it('a broadcast reaches the same app on another instance, never the other app', async () => {
    const app1a = await startInstance({ url: redis.url, keyPrefix: 'app1:' });
    const app1b = await startInstance({ url: redis.url, keyPrefix: 'app1:' });
    const app2 = await startInstance({ url: redis.url, keyPrefix: 'app2:' });
    instances.push(app1a, app1b, app2);
    const on1b = await connect(app1b.url);
    const on2 = await connect(app2.url);
    await deliveredAcross(app1a, on1b, 'news', 10_000);
    app1a.gateway.server.emit('news', 'app1 only');
    await on1b.waitFor('news', (p) => p === 'app1 only');
    // Give a stray message every chance to arrive before saying it did not.
    await new Promise((r) => setTimeout(r, 500));
    expect(on2.received('news')).toEqual([]);
  });
});

describe('RedisIoAdapter on the embedded store (no Redis configured)', () => {
  let app: IoInstance;
  afterAll(async () => {
    closeClients();
    await app?.close();
  });

  it("keeps Socket.IO's in-memory adapter: broadcasts and authentication work within the instance", async () => {
    app = await startInstance({}, { authenticate: true });
    const { sessionId } = await app.sessions.create({ userId: 'judy' });
    const client = await connect(app.url, { token: sessionId });
    app.gateway.server.to('user:judy').emit('dm', 'hi judy');
    expect(await client.waitFor('dm')).toBe('hi judy');
    await app.sessions.revoke(sessionId);
    await waitUntil(() => !client.socket.connected, { timeoutMs: 5_000, what: 'the revoked socket disconnected' });
  });
});

describe('RedisIoAdapter options', () => {
  it('bad options stop start-up with a message naming them', async () => {
    await expect(startInstance({}, { authenticate: 'yes' as never, revalidateEvery: 'soon' })).rejects.toThrow(/authenticate must be a boolean[\s\S]*revalidateEvery/);
  });
});
