import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  startCluster,
  startRedis,
  startSentinelGroup,
  waitUntil,
  type RedisClusterHandle,
  type RedisProcess,
  type SentinelGroupHandle,
} from '@nestjs-redis-kit/test-support';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { RedisHealthModule } from '../../src/health/redis-health.module.js';
import { RedisHealthIndicator } from '../../src/health/redis.health.js';

type Extras = { name?: string };

// Outage warnings are expected here; the assertions are on what the indicator returns.
const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

const opened: TestingModule[] = [];

async function indicatorFor(...connections: Array<RedisModuleOptions & Extras>): Promise<RedisHealthIndicator> {
  const moduleRef = await Test.createTestingModule({
    imports: [...connections.map((options) => RedisModule.forRoot(options)), RedisHealthModule],
  })
    .setLogger(silent)
    .compile();
  await moduleRef.init();
  opened.push(moduleRef);
  return moduleRef.get(RedisHealthIndicator);
}

async function closeAll(): Promise<void> {
  for (const moduleRef of opened.splice(0)) await moduleRef.close();
}

/** Times one check; the indicator must settle on its own, so no outer timeout is added here. */
async function timed<T>(check: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await check();
  return { result, ms: performance.now() - started };
}

describe('RedisHealthIndicator on a standalone Redis', () => {
  let server: RedisProcess;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(closeAll);
  afterAll(async () => {
    await server?.stop();
  });

  it('reports up with latency, topology, role and memory, under the key it is given', async () => {
    const indicator = await indicatorFor({ url: server.url });
    const result = await indicator.isHealthy('cache-store');
    expect(Object.keys(result)).toEqual(['cache-store']);
    const entry = result['cache-store'];
    expect(entry).toMatchObject({ status: 'up', mode: 'standalone', engine: 'redis', role: 'master', maxMemoryBytes: 0, memoryRatio: null });
    expect(entry.latencyMs).toBeGreaterThanOrEqual(0);
    expect(entry.usedMemoryBytes).toBeGreaterThan(0);
  });

  it('reports the ratio of used memory to maxmemory when a limit is set', async () => {
    const indicator = await indicatorFor({ url: server.url });
    await server.command('CONFIG', 'SET', 'maxmemory', String(256 * 1024 * 1024));
    try {
      const { redis } = await indicator.isHealthy();
      expect(redis.status).toBe('up');
      expect(redis.maxMemoryBytes).toBe(256 * 1024 * 1024);
      expect(redis.memoryRatio).toBeGreaterThan(0);
      expect(redis.memoryRatio).toBeCloseTo(redis.usedMemoryBytes / redis.maxMemoryBytes, 3);
    } finally {
      await server.command('CONFIG', 'SET', 'maxmemory', '0');
    }
  });

  it('checks a named connection, and reports down (without throwing) for one that does not exist', async () => {
    const indicator = await indicatorFor({ url: server.url }, { url: server.url, name: 'sessions' });
    expect((await indicator.isHealthy('sessions', { connection: 'sessions' })).sessions.status).toBe('up');
    const missing = await indicator.isHealthy('other', { connection: 'nope' });
    expect(missing.other).toEqual({ status: 'down', message: 'no Redis connection named "nope" is registered' });
  });

  it('reports down for an invalid timeout instead of throwing', async () => {
    const indicator = await indicatorFor({ url: server.url });
    const { redis } = await indicator.isHealthy('redis', { timeoutMs: -5 });
    expect(redis.status).toBe('down');
    expect(redis.message).toContain('timeoutMs must be a positive number');
  });

  it('a frozen Redis (SIGSTOP) is down within the timeout, and up again once it resumes', async () => {
    // The command deadline is longer than the health timeout, so only the indicator's own bound can end the wait.
    const indicator = await indicatorFor({ url: server.url, commandTimeoutMs: 5_000 });
    expect((await indicator.isHealthy()).redis.status).toBe('up');
    server.pause();
    try {
      const { result, ms } = await timed(() => indicator.isHealthy('redis', { timeoutMs: 250 }));
      expect(result.redis).toEqual({ status: 'down', mode: 'standalone', engine: 'redis', message: 'Redis did not answer within 250 ms' });
      // Settles at its timeout: a small multiple allows for a loaded machine, never for a hang.
      expect(ms).toBeLessThan(250 * 4);
    } finally {
      server.resume();
    }
    await waitUntil(async () => (await indicator.isHealthy()).redis.status === 'up', { timeoutMs: 10_000, what: 'health up after SIGCONT' });
  });

  it('Redis killed with the memory fallback: degraded while serving from memory, up when Redis returns', async () => {
    const indicator = await indicatorFor({ url: server.url, commandTimeoutMs: 200 });
    expect((await indicator.isHealthy()).redis.status).toBe('up');
    await server.kill();
    try {
      const degraded = await waitUntil(
        async () => {
          const { redis } = await indicator.isHealthy();
          return redis.status === 'degraded' ? redis : undefined;
        },
        { timeoutMs: 10_000, what: 'degraded health after kill' },
      );
      expect(degraded).toEqual({ status: 'degraded', mode: 'standalone', engine: 'memory', message: 'Redis unavailable: serving from the in-memory fallback' });
    } finally {
      await server.start();
    }
    await waitUntil(async () => (await indicator.isHealthy()).redis.status === 'up', { timeoutMs: 15_000, what: 'health up after restart' });
  });

  it("Redis killed with fallback 'none': down, fast", async () => {
    const indicator = await indicatorFor({ url: server.url, commandTimeoutMs: 200, fallback: 'none' });
    expect((await indicator.isHealthy()).redis.status).toBe('up');
    await server.kill();
    try {
      // Right after the kill a probe may fail on the dead socket before the connection reports
      // 'disconnected': down either way; then it settles on the breaker's answer without touching Redis.
      const seen = new Set<string>();
      await waitUntil(
        async () => {
          const { redis } = await indicator.isHealthy();
          seen.add(redis.status);
          return redis.engine === 'none';
        },
        { timeoutMs: 10_000, what: 'down health from the open breaker after kill' },
      );
      expect([...seen]).toEqual(['down']);
      const { result, ms } = await timed(() => indicator.isHealthy('redis', { timeoutMs: 500 }));
      expect(result.redis).toEqual({ status: 'down', mode: 'standalone', engine: 'none', message: 'Redis unavailable and the fallback is disabled' });
      expect(ms).toBeLessThan(500);
    } finally {
      await server.start();
    }
  });

  it('without any Redis configured (embedded store) it reports degraded, saying so', async () => {
    const indicator = await indicatorFor({});
    const { redis } = await indicator.isHealthy();
    expect(redis).toEqual({ status: 'degraded', mode: 'embedded', engine: 'memory', message: 'no Redis configured: serving from the in-memory store' });
  });
});

describe('RedisHealthIndicator on Redis Cluster', () => {
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  });
  afterEach(closeAll);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('reports up with cluster_state and every master answering', async () => {
    const indicator = await indicatorFor({ cluster: { nodes: cluster.seeds } });
    const { redis } = await indicator.isHealthy();
    expect(redis).toMatchObject({ status: 'up', mode: 'cluster', engine: 'redis', role: 'master', clusterState: 'ok', masters: 3, mastersAnswering: 3, memoryRatio: null });
    expect(redis.usedMemoryBytes).toBeGreaterThan(0);
  });

  it('one frozen master makes it down within the timeout', async () => {
    const indicator = await indicatorFor({ cluster: { nodes: cluster.seeds }, commandTimeoutMs: 5_000 });
    expect((await indicator.isHealthy()).redis.status).toBe('up');
    const [, second] = await cluster.masters();
    second!.pause();
    try {
      const { result, ms } = await timed(() => indicator.isHealthy('redis', { timeoutMs: 300 }));
      expect(result.redis).toMatchObject({ status: 'down', mode: 'cluster' });
      expect(ms).toBeLessThan(300 * 4);
    } finally {
      second!.resume();
    }
    await waitUntil(async () => (await indicator.isHealthy()).redis.status === 'up', { timeoutMs: 10_000, what: 'cluster health up after SIGCONT' });
  });

  // Last: without replicas the cluster cannot heal after losing a master.
  it("a dead master (no replica to promote) makes it down, naming the cluster's problem", async () => {
    const indicator = await indicatorFor({ cluster: { nodes: cluster.seeds }, fallback: 'none' });
    const [first] = await cluster.masters();
    await first!.kill();
    const down = await waitUntil(
      async () => {
        const { redis } = await indicator.isHealthy('redis', { timeoutMs: 500 });
        return redis.status === 'down' && redis.message !== 'Redis did not answer within 500 ms' ? redis : undefined;
      },
      { timeoutMs: 20_000, what: 'cluster health down with a reason' },
    );
    expect(down.message).toMatch(/cluster masters did not answer|cluster_state is fail|fallback is disabled|CLUSTERDOWN|ECONNREFUSED|Connection is closed/);
  });
});

describe('RedisHealthIndicator on Redis Sentinel', () => {
  let group: SentinelGroupHandle;

  beforeAll(async () => {
    group = await startSentinelGroup();
  });
  afterEach(closeAll);
  afterAll(async () => {
    await group?.stop();
  });

  it('reports up with the current master, and follows a failover to the new one', async () => {
    const indicator = await indicatorFor({ sentinel: { name: group.name, sentinels: group.sentinelAddresses }, commandTimeoutMs: 500 });
    const { redis } = await indicator.isHealthy();
    expect(redis).toMatchObject({ status: 'up', mode: 'sentinel', engine: 'redis', role: 'master', master: `127.0.0.1:${group.master.port}` });

    await group.master.kill();
    const promoted = await group.waitForFailover(group.master.port);
    const after = await waitUntil(
      async () => {
        const result = (await indicator.isHealthy()).redis;
        return result.status === 'up' ? result : undefined;
      },
      { timeoutMs: 30_000, what: 'health up on the promoted master' },
    );
    expect(after).toMatchObject({ mode: 'sentinel', role: 'master', master: `127.0.0.1:${promoted.port}` });
  });
});
