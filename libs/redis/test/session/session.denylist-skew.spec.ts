import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis.engine.js';
import { resolveSessionOptions } from '../../src/session/session.options.js';
import { TokenDenylist } from '../../src/session/token-denylist.service.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deny-list entries outlive exp by a clock-skew margin (issue 13)', () => {
  let server: RedisProcess;
  let client: Redis;
  let engine: RedisEngine;
  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url);
    engine = new RedisEngine(client, { keyPrefix: 'skew:' });
  });
  afterAll(async () => {
    await engine?.close();
    client?.disconnect();
    await server?.stop();
  });

  async function entryPttl(): Promise<number[]> {
    const keys = await client.keys('skew:sess:dl:*');
    return Promise.all(keys.map((k) => client.pttl(k)));
  }

  it('by default keeps an entry 60 s past exp: a token with exp now + 1 s is stored for about 61 s', async () => {
    await client.flushall();
    const denylist = new TokenDenylist(engine);
    expect(denylist.options.denylistClockSkewMs).toBe(60_000);
    const jti = randomUUID();
    expect(await denylist.deny({ jti, iss: 'https://issuer.example', exp: (Date.now() + 1_000) / 1000 })).toBe(true);
    const [pttl] = await entryPttl();
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(61_500);
    // A token that expired 30 s ago may still be accepted by a lenient verifier: it is denied, not a no-op.
    const late = randomUUID();
    expect(await denylist.deny({ jti: late, iss: 'i', exp: Date.now() / 1000 - 30 })).toBe(true);
    expect(await denylist.isDenied({ jti: late, iss: 'i' })).toBe(true);
    // Past exp + skew there is nothing left to deny.
    expect(await denylist.deny({ jti: randomUUID(), iss: 'i', exp: Date.now() / 1000 - 120 })).toBe(false);
  });

  it('a token denied with exp now + 1 s is still denied after exp, until exp + clockSkew', async () => {
    const denylist = new TokenDenylist(engine, { denylist: { clockSkew: '3s' } });
    const jti = randomUUID();
    const exp = (Date.now() + 1_000) / 1000;
    expect(await denylist.deny({ jti, iss: 'i', exp })).toBe(true);
    await sleep(2_500);
    // 1.5 s past exp: a verifier whose clock is behind still accepts the token, so it must stay denied.
    expect(Date.now() / 1000).toBeGreaterThan(exp + 1);
    expect(await denylist.isDenied({ jti, iss: 'i' })).toBe(true);
    await sleep(2_500);
    expect(await denylist.isDenied({ jti, iss: 'i' })).toBe(false);
  });

  it('refuses a negative skew at start-up', () => {
    expect(() => resolveSessionOptions({ denylist: { clockSkew: -1 } })).toThrow(/clockSkew/);
  });
});

describe('an idle timeout the user did not set follows the absolute one (issue 13)', () => {
  it("absoluteTimeout: '10m' alone starts, with a 10-minute idle timeout", () => {
    const options = resolveSessionOptions({ absoluteTimeout: '10m' });
    expect(options.absoluteMs).toBe(600_000);
    expect(options.idleMs).toBe(600_000);
    expect(options.touchThrottleMs).toBe(60_000);
  });

  it('keeps the 30-minute default under a longer absolute timeout, and still refuses an explicit idle above absolute', () => {
    expect(resolveSessionOptions({ absoluteTimeout: '2h' }).idleMs).toBe(30 * 60_000);
    expect(() => resolveSessionOptions({ idleTimeout: '20m', absoluteTimeout: '10m' })).toThrow(/idleTimeout must not exceed/);
  });
});
