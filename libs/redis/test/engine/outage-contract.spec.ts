import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { buildAppOnce } from '../rate-limit/app-process.js';
import { freePort, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { DeadlineQueue } from '../../src/engine/deadline.queue.js';
import type { FallbackEngine } from '../../src/engine/fallback.engine.js';
import { MemoryStore } from '../../src/engine/memory.store.js';
import { RedisModule } from '../../src/redis.module.js';
import { ClearRefusedError, RedisTimeoutError } from '../../src/redis.errors.js';
import { resolveRedisOptions, type RedisModuleOptions } from '../../src/redis.options.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const never = () => new Promise<never>(() => undefined);

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // The event loop is blocked, as under a long synchronous task.
  }
}

describe('the outage contract at the port', () => {
  const servers: RedisProcess[] = [];
  const connections: RedisConnection[] = [];
  afterAll(async () => {
    for (const c of connections) await c.onApplicationShutdown();
    for (const s of servers) await s.destroy();
  });

  async function connect(url: string, options: Partial<RedisModuleOptions> = {}): Promise<RedisConnection> {
    const c = new RedisConnection(resolveRedisOptions({ url, keyPrefix: 'oc:', ...options }));
    connections.push(c);
    await c.onModuleInit();
    return c;
  }

  it('replay catches up while four loops keep deleting as fast as they can: back on Redis within 10 s of Redis returning, no invalidation lost', async () => {
    const server = await startRedis();
    servers.push(server);
    const c = await connect(server.url, { commandTimeoutMs: 200, breaker: { journalLimit: 2_000_000, probeIntervalMs: 100, maxProbeIntervalMs: 500 } });
    const admin = new Redis(server.port, '127.0.0.1');
    try {
      // Each loop walks its own 5,000 keys: distinct invalidations, not one key over and over.
      const keys = ['a', 'b', 'c', 'd'].map((k) => `loop:${k}`);
      let running = true;
      let calls = 0;
      const loops = keys.map(async (key) => {
        for (let i = 0; running; i++) {
          try {
            await c.engine.del([i % 2 === 0 ? key : `${key}:${i % 5_000}`], { replayOnRecovery: true });
          } catch {
            // A deadline while the write waits behind the replay: the loop just goes on.
          }
          calls++;
          // As fast as a server taking requests from sockets can: yield to I/O between calls.
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
      server.pause();
      await waitUntil(() => c.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'the instance on its fallback' });
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      // Written on Redis "by another instance" while this one was away: the loops' deletes made
      // during the outage come after these and must remove them.
      server.resume();
      const returned = performance.now();
      await admin.mset(...keys.flatMap((k) => [`oc:${k}`, 'stale']));
      await waitUntil(() => c.status() === 'connected', { timeoutMs: 10_000, intervalMs: 20, what: 'back on Redis while the loops run' });
      expect(performance.now() - returned).toBeLessThan(10_000);
      expect(calls).toBeGreaterThan(1_000);
      running = false;
      await Promise.all(loops);
      // Writes made after the switch went straight to Redis; the loops' last deletes removed every key.
      expect(await admin.mget(...keys.map((k) => `oc:${k}`))).toEqual([null, null, null, null]);
      expect((c.engine as FallbackEngine).stats().journalSize).toBe(0);
    } finally {
      admin.disconnect();
    }
  });

  it('a reply delayed only by event-loop lag settles its command and does not open the breaker', async () => {
    const server = await startRedis();
    servers.push(server);
    const c = await connect(server.url, { commandTimeoutMs: 100, breaker: { failureThreshold: 1 } });
    await c.engine.set('lag', 'from-redis');
    const reply = c.engine.get('lag');
    // Redis answers within a millisecond; the process does not read it for 400 ms.
    busyWait(400);
    expect(await reply).toBe('from-redis');
    expect(c.engine.mode()).toBe('redis');
    expect(c.status()).toBe('connected');
  });

  it('deadlines run on a monotonic clock source: a backward jump of that source does not stretch them', async () => {
    let offset = 0;
    const q = new DeadlineQueue(100, () => performance.now() + offset);
    const started = performance.now();
    const pending = q.race(never());
    offset = -60_000; // the clock source steps back a minute
    await expect(pending).rejects.toBeInstanceOf(RedisTimeoutError);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('clear() refuses to run without a keyPrefix and leaves the database alone', async () => {
    const server = await startRedis();
    servers.push(server);
    const admin = new Redis(server.port, '127.0.0.1');
    try {
      await admin.set('someone-else', 'keep');
      const c = await connect(server.url, { keyPrefix: '' });
      await expect(c.engine.clear()).rejects.toBeInstanceOf(ClearRefusedError);
      await expect(c.engine.clear()).rejects.toMatchObject({ code: 'E_CLEAR_REFUSED' });
      expect(await admin.get('someone-else')).toBe('keep');
    } finally {
      admin.disconnect();
    }
  });

  it('the memory store holds a bound of 1,000,000 entries and evicts past it without throwing', () => {
    const store = new MemoryStore(1_000_000, Number.MAX_SAFE_INTEGER);
    const ttlMs = 3_600_000;
    for (let i = 0; i < 1_000_000; i++) store.set(`k${i}`, 'v', { ttlMs });
    expect(store.stats().entries).toBe(1_000_000);
    // Past the bound: every write evicts one entry and leaves a stale expiry behind, until the
    // expiry heap is rebuilt from every live entry (the step that used to overflow the stack).
    for (let i = 1_000_000; i < 2_200_000; i++) store.set(`k${i}`, 'v', { ttlMs });
    expect(store.stats().entries).toBe(1_000_000);
    expect(store.get('k2199999')).toBe('v');
    expect(store.get('k0')).toBeNull();
  }, 180_000);

  it('start-up does not hang on a stalled Redis (SIGSTOP): app.init() returns soon after the connect timeout', async () => {
    const server = await startRedis();
    servers.push(server);
    server.pause();
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'oc:', connectTimeoutMs: 1_000, commandTimeoutMs: 200, cache: { l1: { maxEntries: 100 } } })],
      }).compile();
      const app = moduleRef.createNestApplication({ logger: false });
      const started = performance.now();
      await app.init();
      const took = performance.now() - started;
      expect(app.get(RedisConnection).status()).toBe('memory-fallback');
      // Generous: one connect timeout, plus room for a busy machine; not the subscriber's wait on top.
      expect(took).toBeLessThan(1_900);
      const closing = performance.now();
      await app.close();
      expect(performance.now() - closing).toBeLessThan(2_000);
    } finally {
      server.resume();
    }
  });

  it('app.close() with Redis unreachable resolves within 100 ms in a process with no other handle', async () => {
    buildAppOnce();
    const port = await freePort();
    const lib = `${root}.tmp/rate-limit-app/libs/redis/src`;
    const script = `
      import { NestFactory } from '@nestjs/core';
      import { RedisModule } from '${lib}/redis.module.js';
      const app = await NestFactory.createApplicationContext(RedisModule.forRoot({ url: 'redis://127.0.0.1:${port}', connectTimeoutMs: 300 }), { logger: false });
      await app.init();
      const started = performance.now();
      await app.close();
      console.log('CLOSED ' + Math.round(performance.now() - started));
    `;
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 20_000 }, (error, out) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: String(out) }),
      );
    });
    // Exit code 13 would mean the process ran out of handles with close() still pending.
    expect({ code, closed: /CLOSED \d+/.test(stdout) }).toEqual({ code: 0, closed: true });
    expect(Number(/CLOSED (\d+)/.exec(stdout)![1])).toBeLessThan(100);
  }, 180_000);
});
