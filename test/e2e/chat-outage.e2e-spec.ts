import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { io, type Socket } from 'socket.io-client';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { bootDemoWithSockets, call, clearAppEnv, setEnv, snapshotEnv, type Running } from './e2e.fixture.js';

interface ChatMessage {
  id: string;
  from: string;
  body: string;
}

/** Redis killed mid-chat: each instance keeps serving its own sockets, and delivery across instances resumes when it returns. */
describe('demo chat while Redis is away', () => {
  const restoreEnv = snapshotEnv();
  let redis: RedisProcess;
  let db: DemoDatabase;
  let A: Running, B: Running;
  const sockets: Socket[] = [];

  const connect = async (base: string, user: string): Promise<Socket> => {
    const login = await call(base, 'POST', '/auth/login', { body: { email: `${user}@example.com`, password: 'demo-password' } });
    expect(login.status).toBe(200);
    const socket = io(base, { auth: { token: login.body.sessionId }, transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => (socket.once('connect', () => resolve()), socket.once('connect_error', reject)));
    await socket.timeout(10_000).emitWithAck('join', { tripId: 1 });
    return socket;
  };
  const collect = (socket: Socket): ChatMessage[] => {
    const seen: ChatMessage[] = [];
    socket.on('message', (m: ChatMessage) => seen.push(m));
    return seen;
  };

  beforeAll(async () => {
    redis = await startRedis();
    clearAppEnv();
    setEnv({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '200' });
    db = await DemoDatabase.open({ path: ':memory:', latencyMs: 0 });
    A = await bootDemoWithSockets(db);
    B = await bootDemoWithSockets(db);
  });

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    for (const r of [A, B]) await r?.app.close();
    db?.onApplicationShutdown();
    await redis?.destroy();
    restoreEnv();
  });

  it('sends keep working on each instance during the outage; after it, messages cross instances again and the outage messages are in the history once', async () => {
    const bob = await connect(A.url, 'bob');
    const dave = await connect(A.url, 'dave');
    const carol = await connect(B.url, 'carol');
    const atDave = collect(dave);
    const atCarol = collect(carol);
    await bob.timeout(10_000).emitWithAck('send', { tripId: 1, body: 'before' });
    await waitUntil(() => atCarol.length === 1, { timeoutMs: 10_000, what: 'the first message on B' });

    await redis.kill();
    // Same instance: delivered, and acknowledged as stored.
    const during = (await bob.timeout(15_000).emitWithAck('send', { tripId: 1, body: 'during the outage', mid: 'outage-1' })) as ChatMessage;
    expect(during).toMatchObject({ from: 'bob', body: 'during the outage' });
    await waitUntil(() => atDave.some((m) => m.body === 'during the outage'), { timeoutMs: 15_000, what: 'local delivery during the outage' });
    // B keeps serving its own sockets too: it answers for the users connected to it.
    const online = (await carol.timeout(15_000).emitWithAck('online', { tripId: 1 })) as { users: string[] };
    expect(online.users).toContain('carol');

    await redis.start();
    // Cross-instance delivery resumes by itself: keep sending until B sees one.
    await waitUntil(async () => {
      await bob.timeout(10_000).emitWithAck('send', { tripId: 1, body: 'after' });
      return atCarol.some((m) => m.body === 'after');
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'a message from A to reach B after Redis returned' });
    await waitUntil(async () => {
      const { messages } = (await carol.timeout(10_000).emitWithAck('history', { tripId: 1 })) as { messages: ChatMessage[] };
      return messages.filter((m) => m.body === 'during the outage').length === 1;
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'the outage message in the shared history, once' });
    expect(bob.connected && carol.connected && dave.connected).toBe(true);
  });
});
