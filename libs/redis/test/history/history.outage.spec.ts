import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { MessageHistory } from '../../src/history/history.service.js';
import type { HistoryMessage } from '../../src/history/history.types.js';
import { JournalFullError, RedisUnavailableError } from '../../src/redis.errors.js';
import { resolveRedisOptions } from '../../src/redis.options.js';

const DEADLINE_MS = 200;

/** Two app instances on one Redis (kept on disk, so a SIGKILL loses nothing), each with its own breaker, fallback and journal. */
describe('MessageHistory while Redis is away', () => {
  let server: RedisProcess;
  const connections: RedisConnection[] = [];
  let rooms = 0;

  const instance = async () => {
    const connection = new RedisConnection(
      resolveRedisOptions({ url: server.url, keyPrefix: 'chat:', commandTimeoutMs: DEADLINE_MS, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200 } }),
    );
    await connection.onModuleInit();
    connections.push(connection);
    return { connection, history: MessageHistory.create(connection, { maxLength: 100 }) };
  };
  const onRedis = (...list: { connection: RedisConnection }[]) =>
    waitUntil(() => list.every((i) => i.connection.status() === 'connected' && i.connection.engine.mode() === 'redis'), { timeoutMs: 15_000, what: 'instances back on Redis' });
  /** What Redis itself holds for a room, read without the library. */
  const onServer = async (room: string) => {
    const reply = (await server.command('XRANGE', `chat:history:{${room}}`, '-', '+')) as [string, string[]][];
    return reply.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return { id, ...f } as { id: string } & Record<string, string | undefined>;
    });
  };

  beforeAll(async () => {
    server = await startRedis({ extraArgs: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  });
  afterAll(async () => {
    if (server?.paused) server.resume();
    for (const c of connections) await c.onApplicationShutdown();
    await server?.stop();
  });

  it('Redis killed mid-chat: appends go on from memory and reach Redis once each, in order, with their first ts', async () => {
    const [a, b] = [await instance(), await instance()];
    const room = `trip-${++rooms}`;
    const before: HistoryMessage[] = [];
    for (let i = 1; i <= 3; i++) before.push(await a.history.append(room, { from: 'ann', body: `before ${i}`, mid: `b${i}` }));

    await server.kill();
    const during: HistoryMessage[] = [];
    for (let i = 1; i <= 5; i++) during.push(await a.history.append(room, { from: 'ann', body: `during ${i}`, mid: `d${i}` }));
    expect(a.connection.engine.mode()).toBe('fallback');
    // A retry of one of them during the outage: still one message.
    expect(await a.history.append(room, { from: 'ann', body: 'during 2', mid: 'd2' })).toEqual(during[1]);
    // Reads during the outage answer from each instance's memory: what it appended since Redis went away.
    expect(await a.history.last(room)).toEqual(during);
    expect(await a.history.since(room, during[1]!.id)).toEqual(during.slice(2));
    await waitUntil(() => b.connection.engine.mode() === 'fallback' || b.connection.status() !== 'connected', { timeoutMs: 5_000, what: 'B sees the outage' });
    expect(await b.history.last(room)).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));

    await server.start();
    await onRedis(a, b);
    await waitUntil(async () => (await b.history.last(room)).length >= 8, { timeoutMs: 10_000, what: 'the outage appends on Redis' });
    const seen = await b.history.last(room);
    expect(seen.map((m) => m.body)).toEqual(['before 1', 'before 2', 'before 3', 'during 1', 'during 2', 'during 3', 'during 4', 'during 5']);
    expect(seen.slice(0, 3)).toEqual(before);
    // Replayed with the time they were first appended; their ids are new (Redis made them on replay).
    expect(seen.slice(3).map((m) => [m.mid, m.ts, m.from])).toEqual(during.map((m) => [m.mid, m.ts, m.from]));
    const stored = await onServer(room);
    expect(stored.map((e) => e.mid)).toEqual(['b1', 'b2', 'b3', 'd1', 'd2', 'd3', 'd4', 'd5']);
    // A retry after recovery of an outage message is recognised: nothing added.
    expect(await a.history.append(room, { from: 'ann', body: 'during 4', mid: 'd4' })).toEqual(seen[6]);
    expect(await server.command('XLEN', `chat:history:{${room}}`)).toBe(8);
  });

  it('a late reply: the append reached Redis, its reply did not; the replay on recovery does not store it twice', async () => {
    const [a] = [await instance()];
    const room = `trip-${++rooms}`;
    await a.history.append(room, { from: 'bob', body: 'hello', mid: 'h1' });
    // SIGSTOP: the append sits in the stopped server's socket and is applied when it resumes,
    // after its caller was answered from memory (the deadline passed) and the write was journaled.
    server.pause();
    let late: HistoryMessage;
    try {
      late = await a.history.append(room, { from: 'bob', body: 'are you there?', mid: 'late-1' });
      expect(a.connection.engine.mode()).toBe('fallback');
    } finally {
      server.resume();
    }
    await onRedis(a);
    await waitUntil(async () => (await a.history.last(room)).length >= 2, { timeoutMs: 10_000, what: 'the late append on Redis' });
    // Give a duplicate every chance to show up.
    await new Promise((r) => setTimeout(r, 300));
    const stored = await onServer(room);
    expect(stored.map((e) => [e.mid, e.body])).toEqual([
      ['h1', 'hello'],
      ['late-1', 'are you there?'],
    ]);
    expect((await a.history.last(room)).map((m) => m.mid)).toEqual(['h1', 'late-1']);
    expect(late.body).toBe('are you there?');
  });

  it("with fallback: 'none' and Redis away, appends and reads reject with RedisUnavailableError; nothing is kept for later", async () => {
    const port = await freePort();
    const connection = new RedisConnection(resolveRedisOptions({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300, fallback: 'none', keyPrefix: 'none:' }));
    await connection.onModuleInit();
    connections.push(connection);
    const history = MessageHistory.create(connection);
    await expect(history.append('room', { from: 'a', body: 'b' })).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(history.last('room')).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(history.since('room', '0-0')).rejects.toBeInstanceOf(RedisUnavailableError);
    expect((connection.engine as unknown as { stats(): { journalSize: number } }).stats().journalSize).toBe(0);
  });

  it('past breaker.journalLimit an outage append rejects with JournalFullError and is not stored; the accepted ones all reach Redis', async () => {
    const connection = new RedisConnection(
      resolveRedisOptions({ url: server.url, keyPrefix: 'chat:', commandTimeoutMs: DEADLINE_MS, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200, journalLimit: 3 } }),
    );
    await connection.onModuleInit();
    connections.push(connection);
    const history = MessageHistory.create(connection);
    const room = `trip-${++rooms}`;
    await server.kill();
    const accepted: string[] = [];
    for (let i = 1; i <= 5; i++) {
      try {
        accepted.push((await history.append(room, { from: 'dee', body: `m${i}`, mid: `j${i}` })).mid);
      } catch (error) {
        expect(error).toBeInstanceOf(JournalFullError);
      }
    }
    expect(accepted).toEqual(['j1', 'j2', 'j3']);
    expect((await history.last(room)).map((m) => m.mid)).toEqual(['j1', 'j2', 'j3']);
    await server.start();
    await onRedis({ connection });
    await waitUntil(async () => (await onServer(room)).length >= 3, { timeoutMs: 10_000, what: 'the accepted appends on Redis' });
    expect((await onServer(room)).map((e) => e.mid)).toEqual(['j1', 'j2', 'j3']);
  });
});
