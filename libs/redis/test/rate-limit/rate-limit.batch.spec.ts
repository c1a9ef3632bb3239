import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RATE_LIMIT_ALGORITHM_CODE, rateLimitBatchScript, rateLimitCheckScript } from '../../src/engine/scripts/rate-limit.scripts.js';
import type { RateLimitAlgorithm } from '../../src/rate-limit/rate-limit.options.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { startCluster, startRedis, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';

interface P {
  algorithm: RateLimitAlgorithm;
  limit: number;
  windowMs: number;
}

const T0 = Math.ceil((Date.now() + 3_600_000) / 10_000) * 10_000;

function rng(seed: number) {
  let s = seed * 7919 + 17;
  return () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646;
}

/** A batch of `costs.length` requests at one instant, against the same policies. */
function batchArgs(now: number, policies: P[], costs: number[][]): number[] {
  const args = [now, ...policies.flatMap((p) => [RATE_LIMIT_ALGORITHM_CODE[p.algorithm], p.limit, p.windowMs, 1]), costs.length];
  for (const c of costs) args.push(...c);
  return args;
}

/**
 * The batch's Lua against its TypeScript twin is the script contract suite's job (libs/redis/test/scripts,
 * case 'rate-limit-batch'); here, on Redis, one batch call against the same requests sent one call each.
 */
describe.each(['standalone', 'cluster'] as const)('rate-limit batch script on Redis %s: one call decides requests exactly as one call each', (topology) => {
  let server: RedisProcess | undefined;
  let cluster: RedisClusterHandle | undefined;
  let redis: RedisConnection;

  beforeAll(async () => {
    if (topology === 'standalone') server = await startRedis();
    else cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    redis = new RedisConnection(resolveRedisOptions(server ? { url: server.url, keyPrefix: 'batch:' } : { cluster: { nodes: cluster!.seeds }, keyPrefix: 'batch:' }));
    await redis.onModuleInit();
  }, 60_000);
  afterAll(async () => {
    await redis?.onApplicationShutdown();
    await server?.stop();
    await cluster?.stop();
  });

  it.each([1, 2, 3, 4])('random batches %i: batch reply = the single replies in order', async (seed) => {
    const rand = rng(seed);
    const algorithms: RateLimitAlgorithm[] = ['sliding-window', 'fixed-window', 'token-bucket'];
    const n = 1 + Math.floor(rand() * 3);
    const policies: P[] = Array.from({ length: n }, () => ({ algorithm: algorithms[Math.floor(rand() * 3)]!, limit: 2 + Math.floor(rand() * 8), windowMs: [500, 1000, 3000][Math.floor(rand() * 3)]! }));
    const batchKeys = policies.map((_, i) => `rl:{${topology}:b${seed}}:p${i}`);
    const singleKeys = policies.map((_, i) => `rl:{${topology}:s${seed}}:p${i}`);
    let now = T0;
    let refused = 0;
    for (let step = 0; step < 12; step++) {
      now += Math.floor(rand() * 300);
      const costs = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => policies.map((p) => 1 + Math.floor(rand() * rand() * p.limit)));
      const batch = (await redis.engine.runScript(rateLimitBatchScript(n), batchKeys, batchArgs(now, policies, costs))) as number[];
      const singles: number[] = [];
      for (const c of costs) {
        const reply = (await redis.engine.runScript(rateLimitCheckScript(n), singleKeys, [now, ...policies.flatMap((p, i) => [RATE_LIMIT_ALGORITHM_CODE[p.algorithm], p.limit, p.windowMs, c[i]!])])) as number[];
        singles.push(...reply.slice(1));
        if (reply[1] === 0) refused++;
      }
      expect(batch[0]).toBe(1);
      expect(batch.slice(1)).toEqual(singles);
    }
    // Both outcomes were exercised, or equality would prove little.
    expect(refused).toBeGreaterThan(0);
  });
});
