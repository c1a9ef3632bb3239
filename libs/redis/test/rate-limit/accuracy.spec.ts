import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startCluster, startRedis, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { buildAppOnce, startAppProcess, type AppProcess } from './app-process.js';

const LIMIT = 100;
const REQUESTS = 1_000;
const ROUNDS = [1, 2, 3];

beforeAll(() => buildAppOnce(), 120_000);

/**
 * Default options on purpose: no raised `commandTimeoutMs`. 1,000 sockets opened at once on a
 * shared 2-core box stall the apps' event loops well past the 300 ms command deadline; a reply that
 * is merely late must still decide (only an open breaker hands a request to the 'local' limiter),
 * so the fleet admits exactly the limit, and a 'closed' policy answers no 503 while Redis is healthy.
 */
describe.each(['standalone', 'cluster'] as const)('rate-limit accuracy with default options: 3 app processes sharing Redis %s', (topology) => {
  let server: RedisProcess | undefined;
  let cluster: RedisClusterHandle | undefined;
  let apps: AppProcess[] = [];

  beforeAll(async () => {
    if (topology === 'standalone') server = await startRedis();
    else cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await server?.stop();
    await cluster?.stop();
  });

  /** One request per fresh connection (no keep-alive reuse between bursts), round robin over the apps. */
  function burst(path: string): Promise<Array<{ status: number }>> {
    return Promise.all(
      Array.from(
        { length: REQUESTS },
        (_, i) =>
          new Promise<{ status: number }>((resolve, reject) => {
            const req = request({ host: '127.0.0.1', port: apps[i % 3]!.port, path: `/${path}`, agent: false }, (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
            });
            req.on('error', reject);
            req.end();
          }),
      ),
    );
  }

  const count = (rs: Array<{ status: number }>, status: number) => rs.filter((r) => r.status === status).length;

  it.each(ROUNDS)(`${REQUESTS} concurrent requests, limit ${LIMIT}: exactly ${LIMIT} succeed, 'local' and 'closed' policies alike (round %i)`, async (round) => {
    const redis = server ? { url: server.url } : { cluster: { nodes: cluster!.seeds } };
    await Promise.all(apps.map((a) => a.stop()));
    // A fresh prefix per round: the budget starts whole without flushing anything.
    apps = await Promise.all([0, 1, 2].map(() => startAppProcess({ redis: { ...redis, keyPrefix: `acc${round}:` }, limit: LIMIT })));
    // Each process decides a third of the requests (round robin); per-instance budgets would admit
    // up to 3 x the limit, so exactly the limit means the one Redis budget decided every request.
    const local = await burst('hit');
    const closed = await burst('hit-closed');
    const seen = { local: [count(local, 200), count(local, 429), count(local, 503)], closed: [count(closed, 200), count(closed, 429), count(closed, 503)] };
    process.stdout.write(`accuracy ${topology} round ${round}: 'local' 200/429/503 = ${seen.local.join('/')}, 'closed' 200/429/503 = ${seen.closed.join('/')}\n`);
    expect(seen).toEqual({ local: [LIMIT, REQUESTS - LIMIT, 0], closed: [LIMIT, REQUESTS - LIMIT, 0] });
  }, 180_000);
});
