import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PresenceService } from 'nestjs-redis-kit';
import { io, type Socket } from 'socket.io-client';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { waitUntil } from '@nestjs-redis-kit/test-support';
import { bootDemoWithSockets, bootGateway, call, clearAppEnv, SECRET, setEnv, snapshotEnv, type Running } from './e2e.fixture.js';

/** `npm start` without REDIS_*: one demo on the embedded store, the gateway in front; the chat works the same. */
describe('demo chat without Redis (embedded store), through the gateway', () => {
  const restoreEnv = snapshotEnv();
  let db: DemoDatabase;
  let demo: Running, gateway: Running;
  const sockets: Socket[] = [];

  const connect = async (user: string, transports: string[]): Promise<Socket> => {
    const login = await call(gateway.url, 'POST', '/api/auth/login', { body: { email: `${user}@example.com`, password: 'demo-password' } });
    expect(login.status).toBe(200);
    const socket = io(gateway.url, { auth: { token: login.body.sessionId }, transports, reconnection: false, forceNew: true });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
    return socket;
  };

  beforeAll(async () => {
    clearAppEnv();
    setEnv({ GATEWAY_SHARED_SECRET: SECRET, GATEWAY_RATE_LIMIT: '100000' });
    db = await DemoDatabase.open({ path: ':memory:', latencyMs: 0 });
    demo = await bootDemoWithSockets(db);
    gateway = await bootGateway([demo.url]);
  });

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    // The demo handles the disconnects (presence) before it is stopped.
    const presence = demo.app.get(PresenceService);
    await waitUntil(async () => (await presence.onlineUsers()).length === 0, { timeoutMs: 10_000, what: 'the sockets to be gone' });
    await gateway?.app.close();
    await demo?.app.close();
    restoreEnv();
  });

  it('join, send, history, online and booking notifications, over polling and websocket', async () => {
    const bob = await connect('bob', ['polling']);
    const carol = await connect('carol', ['websocket']);
    for (const s of [bob, carol]) await s.timeout(10_000).emitWithAck('join', { tripId: 2 });
    const atCarol: Array<{ body: string }> = [];
    carol.on('message', (m: { body: string }) => atCarol.push(m));
    await bob.timeout(10_000).emitWithAck('send', { tripId: 2, body: 'no Redis needed' });
    await waitUntil(() => atCarol.length === 1, { timeoutMs: 10_000, what: 'the message' });
    const { messages } = await carol.timeout(10_000).emitWithAck('history', { tripId: 2 });
    expect(messages.map((m: { from: string; body: string }) => [m.from, m.body])).toEqual([['bob', 'no Redis needed']]);
    expect(await carol.timeout(10_000).emitWithAck('online', { tripId: 2 })).toEqual({ tripId: 2, users: ['bob', 'carol'] });

    const bookings: unknown[] = [];
    bob.on('booking', (b: unknown) => bookings.push(b));
    const login = await call(gateway.url, 'POST', '/api/auth/login', { body: { email: 'bob@example.com', password: 'demo-password' } });
    expect((await call(gateway.url, 'POST', '/api/trips/2/bookings', { token: login.body.sessionId, body: { seats: 1 } })).status).toBe(201);
    await waitUntil(() => bookings.length === 1, { timeoutMs: 10_000, what: 'the booking notification' });
    expect(bookings[0]).toMatchObject({ type: 'booking', tripId: 2, travellerId: 'bob', seats: 1 });
  });
});
