import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HistoryMessage } from 'nestjs-redis-kit';
import { io, type Socket } from 'socket.io-client';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { bootDemoWithSockets, bootGateway, call, clearAppEnv, SECRET, setEnv, snapshotEnv, type Running } from './e2e.fixture.js';

const PASSWORD = 'demo-password';
const WAIT = { timeoutMs: 15_000 };

/** What the demo's chat sends: a stored history message with the trip it belongs to. */
type ChatMessage = HistoryMessage & { tripId: number };

interface ErrorEvent {
  status: string;
  code: string;
  message: string;
}

/**
 * The demo's trip chat and booking notifications over Socket.IO: two demo instances (A, B) on one
 * Redis and one database, a gateway in front of both, real socket.io-client connections.
 */
describe('demo chat over Socket.IO: two instances on one Redis, directly and through the gateway', () => {
  const restoreEnv = snapshotEnv();
  let redis: RedisProcess;
  let db: DemoDatabase;
  let A: Running, B: Running, G: Running;
  const tokens = new Map<string, string>();
  const open: Socket[] = [];

  const login = async (user: string): Promise<string> => {
    const r = await call(A.url, 'POST', '/auth/login', { body: { email: `${user}@example.com`, password: PASSWORD } });
    expect(r.status).toBe(200);
    return r.body.sessionId as string;
  };
  const tokenOf = async (user: string): Promise<string> => {
    if (!tokens.has(user)) tokens.set(user, await login(user));
    return tokens.get(user)!;
  };

  /** A connected socket for the user on the given base URL. */
  const connect = async (base: string, user: string, transports: string[] = ['websocket']): Promise<Socket> => {
    const socket = io(base, { auth: { token: await tokenOf(user) }, transports, reconnection: false, forceNew: true, timeout: 10_000 });
    open.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return socket;
  };
  const ask = <T>(socket: Socket, event: string, payload: unknown): Promise<T> => socket.timeout(10_000).emitWithAck(event, payload) as Promise<T>;
  /** Emits and resolves with the `exception` event the server answers with (an error never acks). */
  const refused = (socket: Socket, event: string, payload: unknown): Promise<ErrorEvent> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no exception event for ${event} ${JSON.stringify(payload)?.slice(0, 80)}`)), 10_000);
      socket.once('exception', (error: ErrorEvent) => {
        clearTimeout(timer);
        resolve(error);
      });
      socket.emit(event, payload, () => {
        clearTimeout(timer);
        reject(new Error(`${event} was accepted`));
      });
    });
  /** Every `event` the socket receives from now on. */
  const collect = <T>(socket: Socket, event: string): T[] => {
    const seen: T[] = [];
    socket.on(event, (payload: T) => seen.push(payload));
    return seen;
  };
  const history = async (socket: Socket, tripId: number): Promise<ChatMessage[]> => (await ask<{ messages: ChatMessage[] }>(socket, 'history', { tripId })).messages;

  beforeAll(async () => {
    redis = await startRedis();
    clearAppEnv();
    setEnv({ REDIS_URL: redis.url, GATEWAY_SHARED_SECRET: SECRET, GATEWAY_RATE_LIMIT: '100000', GATEWAY_WS_UPGRADES_PER_MINUTE: '1000' });
    db = await DemoDatabase.open({ path: ':memory:', latencyMs: 0 });
    A = await bootDemoWithSockets(db);
    B = await bootDemoWithSockets(db);
    G = await bootGateway([A.url, B.url]);
  });

  afterEach(() => {
    for (const socket of open.splice(0)) socket.disconnect();
  });

  afterAll(async () => {
    for (const socket of open.splice(0)) socket.disconnect();
    for (const r of [G, A, B]) await r?.app.close();
    db?.onApplicationShutdown();
    await redis?.stop();
    restoreEnv();
  });

  it('a socket without a valid session is refused at the handshake', async () => {
    for (const auth of [{}, { token: 'not-a-session' }]) {
      const socket = io(A.url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
      open.push(socket);
      const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
      expect(error).toBeInstanceOf(Error);
      expect(socket.connected).toBe(false);
    }
  });

  it('a message sent on instance A reaches a client in the same trip room on instance B, and no other room', async () => {
    const bob = await connect(A.url, 'bob');
    const carol = await connect(B.url, 'carol');
    const dave = await connect(B.url, 'dave');
    await ask(bob, 'join', { tripId: 1 });
    expect(await ask(carol, 'join', { tripId: 1 })).toEqual({ tripId: 1, room: 'trip:1' });
    await ask(dave, 'join', { tripId: 2 });
    await ask(bob, 'join', { tripId: 2 });
    const atCarol = collect<ChatMessage>(carol, 'message');
    const atDave = collect<ChatMessage>(dave, 'message');

    const sent = await ask<ChatMessage>(bob, 'send', { tripId: 1, body: 'Who is bringing the tent?' });
    expect(sent).toMatchObject({ tripId: 1, from: 'bob', body: 'Who is bringing the tent?', room: 'trip:1' });
    expect(sent.id).toMatch(/^\d+-\d+$/);
    await waitUntil(() => atCarol.length === 1, { ...WAIT, what: 'the message on instance B' });
    expect(atCarol[0]).toEqual(sent);

    // Sent after the first from the same instance: once dave has it, the first would have arrived before.
    await ask(bob, 'send', { tripId: 2, body: 'Trip 2 only' });
    await waitUntil(() => atDave.length === 1, { ...WAIT, what: 'the trip 2 message on B' });
    expect(atDave.map((m) => m.body)).toEqual(['Trip 2 only']);
  });

  it('history: oldest first, "since" a message id, and still there after an instance restarts', async () => {
    const bob = await connect(A.url, 'bob');
    await ask(bob, 'join', { tripId: 3 });
    const sent: ChatMessage[] = [];
    for (const body of ['one', 'two', 'three']) sent.push(await ask<ChatMessage>(bob, 'send', { tripId: 3, body }));
    expect((await history(bob, 3)).map((m) => m.body)).toEqual(['one', 'two', 'three']);
    const after = await ask<{ messages: ChatMessage[] }>(bob, 'history', { tripId: 3, since: sent[0]!.id });
    expect(after.messages.map((m) => m.body)).toEqual(['two', 'three']);
    // A retried send with the same mid is stored once.
    const first = await ask<ChatMessage>(bob, 'send', { tripId: 3, body: 'four', mid: 'bob-retry-1' });
    const retried = await ask<ChatMessage>(bob, 'send', { tripId: 3, body: 'four', mid: 'bob-retry-1' });
    expect(retried.id).toBe(first.id);
    expect((await history(bob, 3)).map((m) => m.body)).toEqual(['one', 'two', 'three', 'four']);

    // A third instance, written to, stopped and started again (A and B stay behind the gateway). It
    // gets a database of its own, seeded alike: stopping an instance closes its database.
    let own = await DemoDatabase.open({ path: ':memory:', latencyMs: 0 });
    let C = await bootDemoWithSockets(own);
    const onC = await connect(C.url, 'bob');
    await ask(onC, 'join', { tripId: 3 });
    await ask(onC, 'send', { tripId: 3, body: 'five' });
    onC.disconnect();
    await C.app.close();
    own = await DemoDatabase.open({ path: ':memory:', latencyMs: 0 });
    C = await bootDemoWithSockets(own);
    try {
      const carol = await connect(C.url, 'carol');
      expect((await history(carol, 3)).map((m) => [m.from, m.body])).toEqual([['bob', 'one'], ['bob', 'two'], ['bob', 'three'], ['bob', 'four'], ['bob', 'five']]);
      carol.disconnect();
    } finally {
      await C.app.close();
    }
    bob.disconnect();
  });

  it('online: who joined the trip, on any instance; a client that disconnects is gone right after', async () => {
    const bob = await connect(A.url, 'bob');
    const carol = await connect(B.url, 'carol');
    await ask(bob, 'join', { tripId: 5 });
    await ask(carol, 'join', { tripId: 5 });
    expect(await ask(bob, 'online', { tripId: 5 })).toEqual({ tripId: 5, users: ['bob', 'carol'] });
    carol.disconnect();
    await waitUntil(async () => {
      const { users } = await ask<{ users: string[] }>(bob, 'online', { tripId: 5 });
      return users.join(',') === 'bob';
    }, { ...WAIT, what: 'carol to leave the online list' });
    expect(await ask(bob, 'online', { tripId: 6 })).toEqual({ tripId: 6, users: [] });
    // Leaving the room (still connected) takes bob off the list too, and stops its messages.
    expect(await ask(bob, 'leave', { tripId: 5 })).toEqual({ tripId: 5, left: true });
    expect(await ask(bob, 'leave', { tripId: 5 })).toEqual({ tripId: 5, left: false });
    expect(await ask(bob, 'online', { tripId: 5 })).toEqual({ tripId: 5, users: [] });
    expect(await refused(bob, 'send', { tripId: 5, body: 'gone' })).toMatchObject({ code: 'E_NOT_JOINED' });
  });

  it('a booking made over HTTP reaches the traveller and the trip creator on their sockets, on any instance', async () => {
    // Seeded trips were created by alice.
    const alice = await connect(B.url, 'alice');
    const bob = await connect(A.url, 'bob');
    const carol = await connect(B.url, 'carol');
    const atAlice = collect<Record<string, unknown>>(alice, 'booking');
    const atBob = collect<Record<string, unknown>>(bob, 'booking');
    const atCarol = collect<Record<string, unknown>>(carol, 'booking');
    const booked = await call(G.url, 'POST', '/api/trips/7/bookings', { token: await tokenOf('bob'), body: { seats: 1 } });
    expect(booked.status).toBe(201);
    await waitUntil(() => atAlice.length === 1 && atBob.length === 1, { ...WAIT, what: 'the booking on both sockets' });
    const expected = { type: 'booking', bookingId: booked.body.id, tripId: 7, travellerId: 'bob', seats: 1 };
    expect(atAlice[0]).toMatchObject(expected);
    expect(atBob[0]).toMatchObject(expected);
    // Carol is neither: a second booking, by her, reaches her; the first never did.
    const hers = await call(A.url, 'POST', '/trips/8/bookings', { token: await tokenOf('carol'), body: { seats: 1 } });
    expect(hers.status).toBe(201);
    await waitUntil(() => atCarol.length === 1, { ...WAIT, what: "carol's own booking" });
    expect(atCarol.map((n) => n.tripId)).toEqual([8]);
  });

  it('bad input gets an error event naming the problem, and nothing is stored', async () => {
    const dave = await connect(A.url, 'dave');
    expect(await refused(dave, 'join', { tripId: 999_999 })).toMatchObject({ status: 'error', code: 'E_TRIP_NOT_FOUND', message: 'trip 999999 does not exist' });
    expect(await refused(dave, 'history', { tripId: 999_999 })).toMatchObject({ code: 'E_TRIP_NOT_FOUND' });
    expect(await refused(dave, 'send', { tripId: 9, body: 'not joined yet' })).toMatchObject({ code: 'E_NOT_JOINED', message: 'send: join trip 9 first' });
    await ask(dave, 'join', { tripId: 9 });
    const cases: Array<[unknown, RegExp]> = [
      ['just a string', /send expects an object/],
      [null, /send expects an object/],
      [[1, 2], /send expects an object/],
      [{ tripId: '9', body: 'x' }, /tripId must be a positive integer/],
      [{ tripId: 9 }, /body must be a non-empty string/],
      [{ tripId: 9, body: '   ' }, /body must be a non-empty string/],
      [{ tripId: 9, body: 42 }, /body must be a non-empty string/],
      [{ tripId: 9, body: 'x'.repeat(2_001) }, /body is 2001 characters; at most 2000/],
      [{ tripId: 9, body: 'hi', admin: true }, /unknown field\(s\) admin/],
      [{ tripId: 9, body: 'hi', mid: 'has spaces' }, /mid must be/],
    ];
    for (const [payload, message] of cases) {
      const error = await refused(dave, 'send', payload);
      expect(error).toMatchObject({ status: 'error', code: 'E_CHAT_INPUT' });
      expect(error.message).toMatch(message);
    }
    expect(await refused(dave, 'history', { tripId: 9, since: 'yesterday' })).toMatchObject({ code: 'E_CHAT_INPUT' });
    expect(await refused(dave, 'online', { trip: 9 })).toMatchObject({ code: 'E_CHAT_INPUT' });
    expect(await history(dave, 9)).toEqual([]);
    // The socket is still usable after all that.
    await ask(dave, 'send', { tripId: 9, body: 'fine now' });
    expect((await history(dave, 9)).map((m) => m.body)).toEqual(['fine now']);
  });

  it('send is rate limited per user across instances: the error event says when to retry', async () => {
    // alice sends nothing anywhere else in this file: her whole budget is here.
    const onA = await connect(A.url, 'alice');
    const onB = await connect(B.url, 'alice');
    await ask(onA, 'join', { tripId: 10 });
    await ask(onB, 'join', { tripId: 10 });
    let accepted = 0;
    let error: (ErrorEvent & { retryAfterMs?: number }) | undefined;
    for (let i = 0; i < 40 && !error; i++) {
      const socket = i % 2 === 0 ? onA : onB;
      const outcome = await Promise.race([
        ask<ChatMessage>(socket, 'send', { tripId: 10, body: `m${i}` }).then(() => undefined),
        new Promise<ErrorEvent>((resolve) => socket.once('exception', resolve)),
      ]);
      if (outcome) error = outcome;
      else accepted++;
    }
    expect(accepted).toBe(30);
    expect(error).toMatchObject({ status: 'error', code: 'E_RATE_LIMITED' });
    expect(error!.retryAfterMs).toBeGreaterThan(0);
    expect(await history(onA, 10)).toHaveLength(30);
  });

  it('logging out over HTTP disconnects that session\'s sockets on every instance', async () => {
    const token = await login('dave');
    const sockets = [A.url, B.url].map((base) => io(base, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true }));
    open.push(...sockets);
    await Promise.all(sockets.map((s) => new Promise<void>((resolve, reject) => (s.once('connect', () => resolve()), s.once('connect_error', reject)))));
    const gone = sockets.map((s) => new Promise<string>((resolve) => s.once('disconnect', resolve)));
    expect((await call(B.url, 'POST', '/auth/logout', { token })).status).toBe(200);
    expect(await Promise.all(gone)).toEqual(['io server disconnect', 'io server disconnect']);
  });

  it.each([['polling'], ['websocket']])('through the gateway over %s: join, send, and the message reaches a direct client on B', async (transport) => {
    const viaGateway = await connect(G.url, 'bob', [transport]);
    expect(viaGateway.io.engine.transport.name).toBe(transport);
    const direct = await connect(B.url, 'carol');
    const trip = transport === 'polling' ? 11 : 12;
    await ask(viaGateway, 'join', { tripId: trip });
    await ask(direct, 'join', { tripId: trip });
    const atCarol = collect<ChatMessage>(direct, 'message');
    const sent = await ask<ChatMessage>(viaGateway, 'send', { tripId: trip, body: `over ${transport}` });
    await waitUntil(() => atCarol.length === 1, { ...WAIT, what: 'the message on B' });
    expect(atCarol[0]).toEqual(sent);
    // And back: a message from B reaches the gateway client.
    const atBob = collect<ChatMessage>(viaGateway, 'message');
    await ask(direct, 'send', { tripId: trip, body: 'reply' });
    await waitUntil(() => atBob.some((m) => m.body === 'reply'), { ...WAIT, what: 'the reply through the gateway' });
    expect(await ask(viaGateway, 'online', { tripId: trip })).toEqual({ tripId: trip, users: ['bob', 'carol'] });
  });

  it('through the gateway, polling upgraded to websocket, with two demo instances behind it', async () => {
    const sockets = await Promise.all([0, 1, 2].map(() => connect(G.url, 'bob', ['polling', 'websocket'])));
    for (const s of sockets) await waitUntil(() => s.io.engine.transport.name === 'websocket', { ...WAIT, what: 'the upgrade' });
    for (const s of sockets) await ask(s, 'join', { tripId: 13 });
    const received = sockets.map((s) => collect<ChatMessage>(s, 'message'));
    await ask(sockets[0]!, 'send', { tripId: 13, body: 'to all three' });
    await waitUntil(() => received.every((r) => r.length === 1), { ...WAIT, what: 'the message on every socket' });
  });

  it('through the gateway, a session the edge knows to be revoked is refused at the upgrade', async () => {
    const token = await login('carol');
    expect((await call(G.url, 'POST', '/api/auth/logout', { token })).status).toBe(200);
    for (const transports of [['websocket'], ['polling']]) {
      const socket = io(G.url, { auth: { token }, extraHeaders: { authorization: `Bearer ${token}` }, transports, reconnection: false, forceNew: true });
      open.push(socket);
      const error = await new Promise<Error & { description?: unknown; context?: { status?: number } }>((resolve) => socket.once('connect_error', resolve));
      expect(socket.connected).toBe(false);
      // Refused by the gateway at the HTTP level (the demo would refuse later, in the Socket.IO
      // handshake, with a message): polling sees the 401 status, websocket a failed upgrade.
      if (transports[0] === 'polling') expect(error.context?.status).toBe(401);
      else expect(error.message).toBe('websocket error');
    }
  });

  it('the README chat client sends through the gateway and prints who is online', async () => {
    const script = fileURLToPath(new URL('../../apps/demo/chat-client.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script, 'dave@example.com', '14', 'Hello from the script'], {
      env: { ...process.env, GATEWAY_URL: G.url },
      timeout: 30_000,
    });
    expect(stdout).toContain('online on trip 14: dave');
    const reader = await connect(B.url, 'bob');
    expect((await history(reader, 14)).map((m) => [m.from, m.body])).toEqual([['dave', 'Hello from the script']]);
    await expect(promisify(execFile)(process.execPath, [script, 'dave@example.com', '999999'], { env: { ...process.env, GATEWAY_URL: G.url }, timeout: 30_000 }))
      .rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('E_TRIP_NOT_FOUND: trip 999999 does not exist') });
  });
});
