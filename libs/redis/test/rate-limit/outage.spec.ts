import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Module, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RateLimit } from '../../src/rate-limit/rate-limit.decorator.js';
import { RateLimitGuard } from '../../src/rate-limit/rate-limit.guard.js';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { startCluster, startRedis, waitUntil, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';

const DEADLINE_MS = 200;
const LIMIT = 5;
const DECISION_CEILING_MS = 2_000;

@Controller()
@UseGuards(RateLimitGuard)
class ModesController {
  @Get('local')
  @RateLimit({ limit: LIMIT, window: '1m', name: 'local', by: 'ip', whenUnavailable: 'local' })
  local() {
    return { ok: true };
  }

  @Get('open')
  @RateLimit({ limit: LIMIT, window: '1m', name: 'open', by: 'ip', whenUnavailable: 'open' })
  open() {
    return { ok: true };
  }

  @Get('closed')
  @RateLimit({ limit: LIMIT, window: '1m', name: 'closed', by: 'ip', whenUnavailable: 'closed' })
  closed() {
    return { ok: true };
  }
}

interface Result {
  status: number;
  ms: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
}

describe.each(['standalone', 'cluster'] as const)('rate limits while Redis %s is killed and after it returns', (topology) => {
  let server: RedisProcess | undefined;
  let cluster: RedisClusterHandle | undefined;
  let app: INestApplication;
  let connection: RedisConnection;
  let base: string;
  let clientSeq = 0;

  /** Each call sends `n` sequential requests as a brand-new client (its own X-Forwarded-For). */
  async function asClient(path: string, n: number, ip = `10.9.${topology === 'cluster' ? 1 : 0}.${++clientSeq}`): Promise<Result[]> {
    const out: Result[] = [];
    for (let i = 0; i < n; i++) out.push(await request(path, ip));
    return out;
  }

  async function request(path: string, ip: string): Promise<Result> {
    const t0 = performance.now();
    const res = await fetch(`${base}/${path}`, { headers: { 'x-forwarded-for': ip } });
    const body = (await res.json()) as Record<string, unknown>;
    return { status: res.status, ms: performance.now() - t0, body, retryAfter: res.headers.get('retry-after') };
  }

  const statuses = (rs: Result[]) => rs.map((r) => r.status);

  async function killRedis() {
    if (server) await server.kill();
    else await Promise.all((await cluster!.masters()).map((m) => m.kill()));
  }

  async function restartRedis() {
    if (server) await server.start();
    else {
      await Promise.all(cluster!.nodes.map((n) => n.start()));
      await cluster!.waitUntilHealthy(30_000);
    }
  }

  beforeAll(async () => {
    if (topology === 'standalone') server = await startRedis();
    else cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    const redis: RedisModuleOptions = server ? { url: server.url } : { cluster: { nodes: cluster!.seeds } };
    @Module({ imports: [RedisModule.forRoot({ ...redis, commandTimeoutMs: DEADLINE_MS, rateLimit: { trustProxy: 1, decisionTimeoutMs: DECISION_CEILING_MS } })], controllers: [ModesController] })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
    connection = app.get(RedisConnection);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await server?.stop();
    await cluster?.stop();
  });

  it('before: every mode enforces the limit from Redis', async () => {
    for (const path of ['local', 'open', 'closed']) expect(statuses(await asClient(path, LIMIT + 2))).toEqual([200, 200, 200, 200, 200, 429, 429]);
  });

  it('killed mid-load: every request settles within the decision backstop, with only the answers its mode allows', async () => {
    // 12 workers (4 per mode) each sending requests back to back, each request as a new client so
    // it is decided by the store (a blocked client would be answered by the block cache); Redis
    // dies 300 ms in.
    const paths = ['local', 'open', 'closed'] as const;
    const results: Array<Result & { path: string }> = [];
    let running = true;
    const workers = Array.from({ length: 12 }, async (_, w) => {
      const path = paths[w % 3]!;
      for (let n = 0; running; n++) results.push({ ...(await request(path, `10.${w + (topology === 'cluster' ? 100 : 50)}.${n >> 8}.${n & 255}`)), path });
    });
    // Progress, not speed: on a loaded machine 300 ms may see few requests, so wait for them.
    await waitUntil(() => results.length > 12, { timeoutMs: 20_000, what: 'a dozen requests before the kill' });
    const before = results.length;
    await killRedis();
    await new Promise((r) => setTimeout(r, 1_500));
    await waitUntil(() => results.length - before > 12, { timeoutMs: 20_000, what: 'a dozen requests after the kill' });
    running = false;
    await Promise.all(workers);
    expect(before).toBeGreaterThan(12);
    expect(results.length - before).toBeGreaterThan(12);
    // Liveness, not speed: nothing waits past the decision's wall-clock backstop (3 x decisionTimeoutMs).
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(DECISION_CEILING_MS * 3);
    const by = (path: string) => new Set(results.filter((r) => r.path === path).map((r) => r.status));
    expect([...by('local')].every((s) => s === 200 || s === 429)).toBe(true);
    expect([...by('open')].every((s) => s === 200 || s === 429)).toBe(true);
    expect([...by('closed')].every((s) => s === 200 || s === 429 || s === 503)).toBe(true);
    // The outage was seen: 'closed' refused with 503 once Redis could not answer.
    expect(by('closed').has(503)).toBe(true);
    // No request became a 500: a dead Redis is never an application error.
    expect(results.filter((r) => r.status >= 500 && r.status !== 503)).toEqual([]);
  }, 60_000);

  it("while Redis is down: 'local' limits on this instance, 'open' allows, 'closed' answers 503", async () => {
    await waitUntil(() => connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'the breaker to open' });
    const local = await asClient('local', LIMIT + 2);
    expect(statuses(local)).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(Number(local[5]!.retryAfter)).toBeGreaterThan(0);
    expect(statuses(await asClient('open', LIMIT + 2))).toEqual(Array(LIMIT + 2).fill(200));
    const closed = await asClient('closed', 2);
    expect(statuses(closed)).toEqual([503, 503]);
    expect(closed[0]!.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', policy: 'closed', retryAfter: 1 });
    expect(closed[0]!.retryAfter).toBe('1');
    // With the breaker open nothing waits on Redis at all.
    expect(Math.max(...[...local, ...closed].map((r) => r.ms))).toBeLessThan(DEADLINE_MS);
  }, 30_000);

  it('after Redis returns: decisions come from Redis again in every mode', async () => {
    await restartRedis();
    await waitUntil(() => connection.status() === 'connected', { timeoutMs: 30_000, what: 'the connection to recover' });
    for (const path of ['local', 'open', 'closed']) expect(statuses(await asClient(path, LIMIT + 2))).toEqual([200, 200, 200, 200, 200, 429, 429]);
    // Shared state again: a budget spent through Redis is seen by a second app instance.
    const ip = '10.7.0.1';
    for (let i = 0; i < LIMIT; i++) await request('open', ip);
    const other = new RedisConnection(connection.options);
    try {
      await other.onModuleInit();
      const keys: string[] = [];
      for await (const batch of other.engine.scan('rl:{ip:10.7.0.1}:*')) keys.push(...batch);
      // Keyed by the route, not by the class and method names.
      expect(keys).toEqual(['rl:{ip:10.7.0.1}:GET /open:open:s']);
    } finally {
      await other.onApplicationShutdown();
    }
  }, 60_000);
});
