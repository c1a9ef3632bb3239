import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import { RedisMetricsModule } from '../../src/metrics/redis-metrics.module.js';
import { RedisModule } from '../../src/redis.module.js';
import { SessionService } from '../../src/session/session.service.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

const SESSIONS = 100_000;
const USERS = 20_000;

const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

/** `calls` per command from INFO commandstats. */
async function commandCalls(client: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of String(await client.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * Issue 13: `sessions_active` walked the whole keyspace (SCAN plus a ZRANGEBYSCORE per user) on every
 * scrape. Now the scripts keep per-group live sets and a scrape is one ZCOUNT per group.
 */
describe('the sessions_active metric on 100k sessions', () => {
  let server: RedisProcess;
  let app: INestApplication;
  let probe: Redis;

  beforeAll(async () => {
    server = await startRedis();
    probe = new Redis(server.url);
    const moduleRef = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ url: server.url, commandTimeoutMs: 5_000, session: { sweepInterval: 0 } }), RedisMetricsModule.forRoot({})],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await app?.close();
    probe?.disconnect();
    await server?.stop();
  });

  it('a scrape issues no SCAN (INFO commandstats) and reports every live session', async () => {
    const sessions = app.get(SessionService);
    const batch = 1_000;
    for (let from = 0; from < SESSIONS; from += batch) {
      await Promise.all(Array.from({ length: batch }, (_, i) => sessions.create({ userId: `bulk-${(from + i) % USERS}` })));
    }
    const before = await commandCalls(probe);
    const text = (await request(app.getHttpServer()).get('/metrics').expect(200)).text;
    const after = await commandCalls(probe);
    expect(sample(text, 'redis_kit_sessions_active{connection="default"}')).toBe(SESSIONS);
    for (const command of ['scan', 'keys', 'zrangebyscore', 'zrange']) expect({ command, calls: after.get(command) ?? 0 }).toEqual({ command, calls: before.get(command) ?? 0 });
    // At most one small script per group of users (one in all on a single Redis), whatever the number of sessions.
    const scripts = (after.get('evalsha') ?? 0) + (after.get('eval') ?? 0) - (before.get('evalsha') ?? 0) - (before.get('eval') ?? 0);
    expect(scripts).toBeLessThanOrEqual(2 * 1024);
  }, 300_000);

  it('ended sessions leave the count: revoked at once, expired by their deadline with no script run for them', async () => {
    const sessions = app.get(SessionService);
    const start = await sessions.activeSessions();
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => sessions.create({ userId: `short-${i}`, ttl: 3_000 })));
    expect(await sessions.activeSessions()).toBe(start + 20);
    await sessions.revoke(made[0]!.sessionId);
    await sessions.revokeAll('short-1');
    expect(await sessions.activeSessions()).toBe(start + 18);
    await new Promise((r) => setTimeout(r, 3_500));
    expect(await sessions.activeSessions()).toBe(start);
  });
});
