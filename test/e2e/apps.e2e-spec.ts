import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { bootDemo, bootGateway, call, clearAppEnv, openStream, SECRET, setEnv, snapshotEnv, type Running } from './e2e.fixture.js';

const PASSWORD = 'demo-password';

/**
 * Two demo instances (A, B) on one database and one Redis, and two gateways: GA in front of A, GB
 * in front of B, so each assertion knows which instance served what.
 */
describe('demo and gateway over HTTP: two instances of each on one Redis', () => {
  const restoreEnv = snapshotEnv();
  let redis: RedisProcess;
  let db: DemoDatabase;
  let A: Running, B: Running, GA: Running, GB: Running;
  let address = 0;
  // Each login comes from its own client address (the gateways trust one proxy hop), so the
  // per-address login budget of one test never leaks into another.
  const fromNewAddress = () => ({ 'x-forwarded-for': `10.0.${Math.floor(++address / 250)}.${address % 250}` });

  const login = async (base: string, email: string) => {
    const r = await call(base, 'POST', '/api/auth/login', { body: { email, password: PASSWORD }, headers: fromNewAddress() });
    expect(r.status).toBe(200);
    return r.body as { sessionId: string; refreshToken: string };
  };

  beforeAll(async () => {
    redis = await startRedis();
    clearAppEnv();
    setEnv({
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '200',
      GATEWAY_SHARED_SECRET: SECRET,
      GATEWAY_TRUST_PROXY: '1',
      GATEWAY_RATE_LIMIT: '100000',
      DEMO_RECOMMENDATION_MS: '300',
      DEMO_CACHE: undefined,
    });
    db = await DemoDatabase.open({ path: ':memory:', latencyMs: 5 });
    A = await bootDemo(db);
    B = await bootDemo(db);
    GA = await bootGateway([A.url]);
    GB = await bootGateway([B.url]);
  });

  afterAll(async () => {
    for (const r of [GA, GB, A, B]) await r?.app.close();
    db?.onApplicationShutdown();
    await redis?.stop();
    restoreEnv();
  });

  it('trips: list with filters and paging, cached (MISS then HIT), one trip, 404 and 400s', async () => {
    const first = await call(GA.url, 'GET', '/api/trips?destination=Kyoto&pageSize=2&page=1');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.body.items).toHaveLength(2);
    expect(first.body.items.every((t: { destination: string }) => t.destination === 'Kyoto')).toBe(true);
    expect(first.body).toMatchObject({ page: 1, pageSize: 2, total: 4 });
    // The other instance reads the entry the first one stored.
    const again = await call(GB.url, 'GET', '/api/trips?destination=Kyoto&pageSize=2&page=1');
    expect(again.headers.get('x-cache')).toBe('HIT');
    expect(again.body).toEqual(first.body);
    const one = await call(GA.url, 'GET', `/api/trips/${first.body.items[0].id}`);
    expect(one.body).toEqual(first.body.items[0]);
    expect((await call(GA.url, 'GET', '/api/trips/9999')).status).toBe(404);
    const bad = await call(GA.url, 'GET', '/api/trips?pageSize=500&color=red');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toEqual(expect.arrayContaining(['pageSize must not be greater than 50', 'property color should not exist']));
    expect((await call(GA.url, 'GET', '/api/trips/abc')).status).toBe(400);
  });

  it('writes need a session; bad input is a 400 naming the fields and writes nothing; only the creator or an admin edits', async () => {
    const trip = { title: 'Glacier walk', destination: 'Reykjavik', organizerId: 'alpine', priceCents: 45_000, startsOn: '2026-08-01', seats: 6 };
    expect((await call(GA.url, 'POST', '/api/trips', { body: trip })).status).toBe(401);
    const bob = await login(GA.url, 'bob@example.com');
    const before = (await call(GA.url, 'GET', '/api/trips?pageSize=1')).body.total;
    const bad = await call(GA.url, 'POST', '/api/trips', { token: bob.sessionId, body: { ...trip, priceCents: -1, startsOn: 'soon', extra: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toEqual(expect.arrayContaining(['priceCents must not be less than 0', 'startsOn must be a date as YYYY-MM-DD', 'property extra should not exist']));
    const unknownOrganizer = await call(GA.url, 'POST', '/api/trips', { token: bob.sessionId, body: { ...trip, organizerId: 'nobody' } });
    expect(unknownOrganizer.status).toBe(400);
    expect((await call(GB.url, 'GET', '/api/trips?pageSize=1')).body.total).toBe(before);

    const created = await call(GA.url, 'POST', '/api/trips', { token: bob.sessionId, body: trip });
    expect(created.status).toBe(201);
    const { organizerId, ...fields } = trip;
    expect(created.body).toMatchObject({ ...fields, organizer: { id: organizerId }, seatsLeft: 6, createdBy: 'bob' });
    expect((await call(GB.url, 'GET', '/api/trips?pageSize=1')).body.total).toBe(before + 1);

    const carol = await login(GB.url, 'carol@example.com');
    expect((await call(GB.url, 'PATCH', `/api/trips/${created.body.id}`, { token: carol.sessionId, body: { title: 'Mine now' } })).status).toBe(403);
    const alice = await login(GB.url, 'alice@example.com');
    const patched = await call(GB.url, 'PATCH', `/api/trips/${created.body.id}`, { token: alice.sessionId, body: { title: 'Glacier walk, by an admin' } });
    expect(patched.status).toBe(200);
    expect(patched.body.title).toBe('Glacier walk, by an admin');
    expect((await call(GA.url, 'DELETE', `/api/trips/${created.body.id}`, { token: bob.sessionId })).status).toBe(200);
    expect((await call(GB.url, 'GET', `/api/trips/${created.body.id}`)).status).toBe(404);
  });

  it('the demo believes X-User-Id only with the gateway secret, and the gateway drops client-sent identity headers', async () => {
    const spoof = { 'x-user-id': 'alice', 'x-user-role': 'admin' };
    expect((await call(A.url, 'GET', '/admin/stats', { headers: spoof })).status).toBe(401);
    expect((await call(A.url, 'GET', '/admin/stats', { headers: { ...spoof, 'x-gateway-auth': 'not-the-secret-at-all' } })).status).toBe(401);
    expect((await call(GA.url, 'GET', '/api/admin/stats', { headers: { ...spoof, 'x-gateway-auth': SECRET } })).status).toBe(401);
    // The secret itself works (this is what the gateway sends), and so does a direct Bearer session.
    expect((await call(A.url, 'GET', '/admin/stats', { headers: { ...spoof, 'x-gateway-auth': SECRET } })).status).toBe(200);
    const alice = await login(GA.url, 'alice@example.com');
    expect((await call(B.url, 'GET', '/admin/stats', { token: alice.sessionId })).status).toBe(200);
  });

  it('auth: wrong password 401, bad body 400, refresh rotates and reuse revokes, sessions listed and revoked by handle, logout-all', async () => {
    expect((await call(GA.url, 'POST', '/api/auth/login', { body: { email: 'bob@example.com', password: 'nope' }, headers: fromNewAddress() })).status).toBe(401);
    expect((await call(GA.url, 'POST', '/api/auth/login', { body: { email: 'bob@example.com', password: 'nope' }, headers: fromNewAddress() })).body.message).toBe('invalid email or password');
    const badBody = await call(GA.url, 'POST', '/api/auth/login', { body: { email: 'not-an-email' }, headers: fromNewAddress() });
    expect(badBody.status).toBe(400);
    expect(badBody.body.message).toEqual(expect.arrayContaining(['email must be an email', 'password should not be empty']));

    const dave1 = await login(GA.url, 'dave@example.com');
    const dave2 = await login(GB.url, 'dave@example.com');
    const rotated = await call(GB.url, 'POST', '/api/auth/refresh', { body: { refreshToken: dave2.refreshToken } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.sessionId).not.toBe(dave2.sessionId);
    expect((await call(GA.url, 'GET', '/api/auth/sessions', { token: dave2.sessionId })).status).toBe(401);
    expect((await call(GA.url, 'GET', '/api/auth/sessions', { token: rotated.body.sessionId })).status).toBe(200);
    // The retired token again within session.refreshGrace (5 s): a retried request gets the same pair.
    const retried = await call(GA.url, 'POST', '/api/auth/refresh', { body: { refreshToken: dave2.refreshToken } });
    expect(retried.status).toBe(200);
    expect(retried.body.sessionId).toBe(rotated.body.sessionId);
    // Reuse after the grace window: refused, and the family (the rotated session) is revoked.
    await new Promise((r) => setTimeout(r, 5_500));
    expect((await call(GA.url, 'POST', '/api/auth/refresh', { body: { refreshToken: dave2.refreshToken } })).status).toBe(401);
    expect((await call(GB.url, 'GET', '/api/auth/sessions', { token: rotated.body.sessionId })).status).toBe(401);
    expect((await call(GA.url, 'POST', '/api/auth/refresh', { body: {} })).status).toBe(400);

    const dave3 = await login(GA.url, 'dave@example.com');
    const list = await call(GB.url, 'GET', '/api/auth/sessions', { token: dave1.sessionId });
    expect(list.status).toBe(200);
    expect(list.body).toHaveLength(2);
    expect((await call(GA.url, 'DELETE', '/api/auth/sessions/not-a-handle', { token: dave1.sessionId })).status).toBe(400);
    expect((await call(GA.url, 'DELETE', `/api/auth/sessions/${'x'.repeat(43)}`, { token: dave1.sessionId })).status).toBe(404);
    const sessionsBefore = list.body.map((s: { handle: string }) => s.handle);
    // Revoke one by handle; exactly one of the two sessions stops working.
    const del = await call(GA.url, 'DELETE', `/api/auth/sessions/${sessionsBefore[0]}`, { token: dave1.sessionId });
    expect(del.status).toBe(200);
    const alive = await Promise.all([dave1, dave3].map(async (s) => (await call(GB.url, 'GET', '/api/auth/sessions', { token: s.sessionId })).status));
    expect(alive.sort()).toEqual([200, 401]);
    const survivor = alive[0] === 200 ? dave1 : dave3;
    const dave4 = await login(GB.url, 'dave@example.com');
    const all = await call(GB.url, 'POST', '/api/auth/logout-all', { token: dave4.sessionId });
    expect(all.body).toEqual({ revoked: 2 });
    for (const s of [survivor, dave4]) expect((await call(GA.url, 'GET', '/api/auth/sessions', { token: s.sessionId })).status).toBe(401);
    expect((await call(GA.url, 'POST', '/api/auth/logout')).status).toBe(401);
  });

  it('a session logged out through one gateway is refused by the other on its next request', async () => {
    const carol = await login(GA.url, 'carol@example.com');
    expect((await call(GB.url, 'GET', '/api/auth/sessions', { token: carol.sessionId })).status).toBe(200);
    expect((await call(GA.url, 'POST', '/api/auth/logout', { token: carol.sessionId })).body).toEqual({ revoked: true });
    const next = await call(GB.url, 'GET', '/api/auth/sessions', { token: carol.sessionId });
    expect(next.status).toBe(401);
    expect(next.body.message).toMatch(/session is not valid/);
  });

  it('the login rate limit holds across gateways (per client address, 10 a minute)', async () => {
    const client = fromNewAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const via = i % 2 === 0 ? GA : GB;
      statuses.push((await call(via.url, 'POST', '/api/auth/login', { body: { email: 'bob@example.com', password: 'wrong' }, headers: client })).status);
    }
    expect(statuses).toEqual(Array(10).fill(401));
    for (const via of [GA, GB]) {
      const refused = await call(via.url, 'POST', '/api/auth/login', { body: { email: 'bob@example.com', password: PASSWORD }, headers: client });
      expect(refused.status).toBe(429);
      expect(refused.body.policy).toBe('login');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Another address is not affected.
    expect((await call(GB.url, 'POST', '/api/auth/login', { body: { email: 'bob@example.com', password: PASSWORD }, headers: fromNewAddress() })).status).toBe(200);
  });

  it('a trip updated on one demo instance is never served stale by the other', async () => {
    const alice = await login(GA.url, 'alice@example.com');
    for (let round = 1; round <= 3; round++) {
      expect((await call(GB.url, 'GET', '/api/trips/3')).status).toBe(200);
      expect((await call(GB.url, 'GET', '/api/trips/3')).headers.get('x-cache')).toBe('HIT');
      const listed = (await call(GB.url, 'GET', '/api/trips?pageSize=5')).body.items.find((t: { id: number }) => t.id === 3);
      const title = `Renamed on A, round ${round}`;
      expect((await call(GA.url, 'PATCH', '/api/trips/3', { token: alice.sessionId, body: { title } })).status).toBe(200);
      expect((await call(GB.url, 'GET', '/api/trips/3')).body.title).toBe(title);
      if (listed) expect((await call(GB.url, 'GET', '/api/trips?pageSize=5')).body.items.find((t: { id: number }) => t.id === 3).title).toBe(title);
    }
  });

  it('a booking on instance A reaches an SSE client on instance B, and the leaderboard counts it', async () => {
    const stream = await openStream(`${GB.url}/api/notifications/stream`);
    try {
      expect(stream.response.statusCode).toBe(200);
      expect(stream.response.headers['content-type']).toMatch(/^text\/event-stream/);
      const before = (await call(GB.url, 'GET', '/api/leaderboard')).body as Array<{ rank: number; organizer: { id: string }; seatsBooked: number }>;
      const trip = (await call(GA.url, 'GET', '/api/trips/4')).body;
      const bob = await login(GA.url, 'bob@example.com');
      const booked = await call(GA.url, 'POST', '/api/trips/4/bookings', { token: bob.sessionId, body: { seats: 2 } });
      expect(booked.status).toBe(201);
      await waitUntil(() => stream.events.length > 0, { timeoutMs: 5_000, what: 'the booking notification on B' });
      expect(stream.events[0]).toMatchObject({ type: 'booking', tripId: 4, organizerId: trip.organizer.id, seats: 2 });
      const after = (await call(GB.url, 'GET', '/api/leaderboard')).body as typeof before;
      const score = (board: typeof before) => board.find((e) => e.organizer.id === trip.organizer.id)?.seatsBooked ?? 0;
      expect(score(after)).toBe(score(before) + 2);
      // The organizer's standing: its rank on the shared board and its own tenant-scoped map of last bookings.
      const standing = (await call(GB.url, 'GET', `/api/leaderboard/${trip.organizer.id}`)).body;
      expect(standing).toMatchObject({ organizer: { id: trip.organizer.id }, seatsBooked: score(after), lastBookings: { '4': { seats: 2 } } });
      expect(standing.rank).toBe(after.find((e) => e.organizer.id === trip.organizer.id)!.rank);
      expect(standing.neighbours.map((e: { organizer: { id: string } }) => e.organizer.id)).toContain(trip.organizer.id);
      expect((await call(GB.url, 'GET', '/api/leaderboard/no-such-organizer')).status).toBe(404);
      expect((await call(GB.url, 'GET', '/api/trips/4')).body.seatsLeft).toBe(trip.seatsLeft - 2);
      expect((await call(GB.url, 'POST', '/api/trips/4/bookings', { token: bob.sessionId, body: { seats: 11 } })).status).toBe(400);
      const small = (await call(GB.url, 'POST', '/api/trips', { token: bob.sessionId, body: { title: 'One seat', destination: 'Split', organizerId: 'coast', priceCents: 1, startsOn: '2026-09-09', seats: 1 } })).body;
      expect((await call(GB.url, 'POST', `/api/trips/${small.id}/bookings`, { token: bob.sessionId, body: { seats: 1 } })).status).toBe(201);
      const full = await call(GA.url, 'POST', `/api/trips/${small.id}/bookings`, { token: bob.sessionId, body: { seats: 1 } });
      expect(full.status).toBe(409);
      expect((await call(GA.url, 'GET', `/api/trips/${small.id}`)).body.seatsLeft).toBe(0);
      expect((await call(GB.url, 'POST', '/api/trips/4/bookings', { body: { seats: 1 } })).status).toBe(401);
      expect((await call(GB.url, 'GET', '/api/leaderboard?limit=0')).status).toBe(400);
    } finally {
      stream.close();
    }
  });

  it('a burst of recommendation requests across both instances runs one computation', async () => {
    expect((await call(GA.url, 'GET', '/api/recommendations/nobody')).status).toBe(404);
    expect((await call(GA.url, 'GET', '/api/recommendations/Bad_Id')).status).toBe(400);
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i % 2 ? GA.url : GB.url, 'GET', '/api/recommendations/carol')));
    expect(burst.every((r) => r.status === 200)).toBe(true);
    expect(new Set(burst.map((r) => r.body.computationId)).size).toBe(1);
    expect(burst[0]!.body.trips.length).toBeGreaterThan(0);
  });

  it('/admin/stats: admins only; shows cache, session and rate-limit figures and the connection mode', async () => {
    const bob = await login(GA.url, 'bob@example.com');
    expect((await call(GA.url, 'GET', '/api/admin/stats', { token: bob.sessionId })).status).toBe(403);
    expect((await call(GA.url, 'GET', '/api/admin/stats')).status).toBe(401);
    const alice = await login(GA.url, 'alice@example.com');
    const stats = await call(GA.url, 'GET', '/api/admin/stats', { token: alice.sessionId });
    expect(stats.status).toBe(200);
    expect(stats.body.connection).toEqual({ status: 'connected', engine: 'redis', redisConfigured: true });
    expect(stats.body.cache.trips.hits).toBeGreaterThan(0);
    expect(stats.body.sessions.activeSessions).toBeGreaterThan(0);
    expect(stats.body.sessions.counters.reuseDetected).toBeGreaterThanOrEqual(0);
    expect(stats.body.rateLimit.bookings.allowed).toBeGreaterThan(0);
  });

  it('gateway /health/ready aggregates Redis and the upstream; /metrics answers', async () => {
    const ready = await call(GA.url, 'GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.upstream).toEqual({ status: 'up', upstreams: { [A.url]: 'up' } });
    expect((await call(GA.url, 'GET', '/metrics')).body).toContain('redis_kit_rate_limit_decisions_total');
  });

  it('Redis paused mid-run: both stacks keep answering; afterwards no revoked session is accepted and no invalidated trip is served', async () => {
    const alice = await login(GA.url, 'alice@example.com');
    const victim = await login(GB.url, 'bob@example.com');
    const handle = (await call(GA.url, 'GET', '/api/auth/sessions', { token: victim.sessionId })).body[0].handle;
    await call(GB.url, 'GET', '/api/trips/5');
    expect((await call(GB.url, 'GET', '/api/trips/5')).headers.get('x-cache')).toBe('HIT');
    // What a gateway sends after validating alice; used directly on demo A because during the
    // outage the gateways refuse every session (sessions fail closed).
    const asAliceFromGateway = { 'x-user-id': 'alice', 'x-user-role': 'admin', 'x-gateway-auth': SECRET };

    redis.pause();
    try {
      for (const g of [GA, GB]) {
        const r = await call(g.url, 'GET', '/api/trips?pageSize=3');
        expect(r.status).toBe(200);
        expect(r.body.items).toHaveLength(3);
      }
      // Unverifiable sessions are refused, not waved through: 503 ("cannot check"), not 401.
      expect((await call(GB.url, 'GET', '/api/auth/sessions', { token: alice.sessionId })).status).toBe(503);
      const patched = await call(A.url, 'PATCH', '/trips/5', { headers: asAliceFromGateway, body: { title: 'Renamed during the outage' } });
      expect(patched.status).toBe(200);
      expect((await call(A.url, 'DELETE', `/auth/sessions/${handle}`, { headers: { ...asAliceFromGateway, 'x-user-id': 'bob', 'x-user-role': 'member' } })).status).toBe(200);
      expect((await call(A.url, 'GET', '/trips/5')).body.title).toBe('Renamed during the outage');
    } finally {
      redis.resume();
    }
    await waitUntil(async () => (await Promise.all([A, B].map((d) => call(d.url, 'GET', '/')))).every((r) => r.body.redis === 'connected'), {
      timeoutMs: 15_000,
      what: 'both demo instances back on Redis',
    });
    await waitUntil(async () => (await call(GB.url, 'GET', '/api/auth/sessions', { token: alice.sessionId })).status === 200, { timeoutMs: 15_000, what: 'sessions verifiable again' });
    expect((await call(GB.url, 'GET', '/api/trips/5')).body.title).toBe('Renamed during the outage');
    expect((await call(B.url, 'GET', '/trips/5')).body.title).toBe('Renamed during the outage');
    for (const g of [GA, GB]) expect((await call(g.url, 'GET', '/api/auth/sessions', { token: victim.sessionId })).status).toBe(401);
  });

  it('Redis killed and restarted (its data lost): the apps keep answering, and afterwards logged-out sessions stay refused', async () => {
    const carol = await login(GA.url, 'carol@example.com');
    expect((await call(GB.url, 'POST', '/api/auth/logout', { token: carol.sessionId })).status).toBe(200);
    await redis.kill();
    try {
      for (const g of [GA, GB]) expect((await call(g.url, 'GET', '/api/trips/6')).status).toBe(200);
      expect((await call(GA.url, 'GET', '/api/leaderboard')).status).toBe(200);
    } finally {
      await redis.start();
    }
    await waitUntil(async () => (await Promise.all([GA, GB].map((g) => call(g.url, 'GET', '/')))).every((r) => r.body.redis === 'connected'), {
      timeoutMs: 15_000,
      what: 'both gateways back on Redis',
    });
    for (const g of [GA, GB]) {
      expect((await call(g.url, 'GET', '/api/auth/sessions', { token: carol.sessionId })).status).toBe(401);
      expect((await call(g.url, 'GET', '/api/trips/6')).status).toBe(200);
    }
    // Login works again on the fresh Redis.
    const again = await login(GB.url, 'carol@example.com');
    expect((await call(GA.url, 'GET', '/api/auth/sessions', { token: again.sessionId })).status).toBe(200);
  });
});
