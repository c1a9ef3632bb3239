import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { CapturingLogger, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { CacheService } from '../../src/cache/cache.service.js';
import { redisAclRule, REDIS_ACL_COMMANDS } from '../../src/connection/redis-acl.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { FallbackEngine } from '../../src/engine/fallback.engine.js';
import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { RedisEngine } from '../../src/engine/redis.engine.js';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import { RedisHealthModule } from '../../src/health/redis-health.module.js';
import { RedisHealthIndicator } from '../../src/health/redis.health.js';
import { PubSubService } from '../../src/pubsub/pubsub.service.js';
import { RedisPermissionError } from '../../src/redis.errors.js';
import { RedisModule } from '../../src/redis.module.js';
import { SessionService } from '../../src/session/session.service.js';
import { TokenDenylist } from '../../src/session/token-denylist.service.js';
import { runStoreEngineContract } from '../contract/store-engine.contract.js';

const ADMIN_PASSWORD = 'acl-admin-secret-77c1';
const APP_PASSWORD = 'acl-app-secret-19de';
const PREFIX = 'acl-app:';

/** `ACL SETUSER <user> on ><password> <rule>` as the admin (the default user). */
async function setUser(server: RedisProcess, user: string, password: string, rule: string): Promise<void> {
  await server.command('ACL', 'DELUSER', user);
  await server.command('ACL', 'SETUSER', user, 'on', `>${password}`, ...rule.split(' '));
}

let server: RedisProcess;

beforeAll(async () => {
  server = await startRedis({ password: ADMIN_PASSWORD });
  await setUser(server, 'app', APP_PASSWORD, redisAclRule({ keyPrefix: PREFIX }));
});
afterAll(async () => {
  await server?.stop();
});

/**
 * Redis checks a PSUBSCRIBE pattern against the ACL literally (not as a glob), so an application
 * lists each pattern it uses (`redisAclRule({ patterns })`). The contract picks a random pattern per
 * test; this wrapper grants exactly that pattern, as an operator would, before subscribing.
 */
function grantingPatterns(engine: StoreEngine): StoreEngine {
  return new Proxy(engine, {
    get(target, property, receiver) {
      if (property === 'psubscribe') {
        return async (pattern: string, handler: Parameters<StoreEngine['psubscribe']>[1]) => {
          await server.command('ACL', 'SETUSER', 'app', `&${PREFIX}${pattern}`);
          return target.psubscribe(pattern, handler);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

runStoreEngineContract('redis standalone as a least-privilege ACL user (redisAclRule, key prefix acl-app:)', async () => {
  const client = new Redis({ host: '127.0.0.1', port: server.port, username: 'app', password: APP_PASSWORD });
  const engine = new RedisEngine(client, { keyPrefix: PREFIX });
  // The rule really is least privilege: outside the prefix, and FLUSHALL, are refused.
  await expect(client.get('other-app:key')).rejects.toThrow(/NOPERM/);
  await expect(client.call('FLUSHALL')).rejects.toThrow(/NOPERM/);
  await expect(client.call('KEYS', `${PREFIX}*`)).rejects.toThrow(/NOPERM/);
  return {
    engine: grantingPatterns(engine),
    mode: 'redis',
    close: async () => {
      await engine.close();
      client.disconnect();
    },
  };
});

describe('every capability through RedisModule as the ACL user', () => {
  let logger: CapturingLogger;
  const opened: TestingModule[] = [];
  const warnings: unknown[] = [];
  const originalWarn = console.warn;

  async function boot(user: string, password: string, keyPrefix = PREFIX): Promise<TestingModule> {
    const moduleRef = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ host: '127.0.0.1', port: server.port, username: user, password, keyPrefix, connectTimeoutMs: 3_000 }), RedisHealthModule],
    })
      .setLogger(logger)
      .compile();
    opened.push(moduleRef);
    await moduleRef.init();
    return moduleRef;
  }

  beforeEach(() => {
    logger = new CapturingLogger();
    Logger.overrideLogger(logger);
    // ioredis prints a console warning if its INFO ready check is refused; it must not be.
    console.warn = (...args: unknown[]) => warnings.push(args);
  });
  afterEach(async () => {
    for (const moduleRef of opened.splice(0)) await moduleRef.close();
    Logger.overrideLogger(false);
    console.warn = originalWarn;
    const log = logger.lines.join('\n');
    expect(log).not.toContain(APP_PASSWORD);
    expect(log).not.toContain(ADMIN_PASSWORD);
    expect(warnings).toEqual([]);
  });

  it('sessions, deny-list, cache (tags, patterns, clear), pub/sub and health all work, served by Redis', async () => {
    const app = await boot('app', APP_PASSWORD);
    const connection = app.get(RedisConnection);
    expect(connection.status()).toBe('connected');

    const sessions = app.get(SessionService);
    const created = await sessions.create({ userId: 'u1', data: { role: 'admin' } });
    expect(await sessions.validate(created.sessionId)).toMatchObject({ userId: 'u1' });
    const rotated = await sessions.refresh(created.refreshToken);
    expect(rotated).not.toBeNull();
    expect((await sessions.list('u1')).length).toBe(1);
    expect(await sessions.revokeAll('u1')).toBe(1);

    const denylist = app.get(TokenDenylist);
    await denylist.deny({ jti: 'j1', iss: 'https://issuer', exp: Math.floor(Date.now() / 1000) + 60 });
    expect(await denylist.isDenied({ jti: 'j1', iss: 'https://issuer' })).toBe(true);

    const cache = app.get(CacheService);
    await cache.set('user:1', { name: 'Ada' }, { tags: ['users'] });
    expect(await cache.get('user:1')).toEqual({ name: 'Ada' });
    expect(await cache.getOrSet('user:2', () => ({ name: 'Bob' }), { tags: ['users'] })).toEqual({ name: 'Bob' });
    await cache.invalidateTags(['users']);
    expect(await cache.get('user:1')).toBeUndefined();
    await cache.set('page:1', 1);
    await cache.invalidatePattern('page:*');
    expect(await cache.has('page:1')).toBe(false);
    await cache.set('x', 1);
    await cache.clear();

    const pubsub = app.get(PubSubService);
    const got: unknown[] = [];
    const off = await pubsub.subscribe('events', (message) => {
      got.push(message);
    });
    await waitUntil(async () => (await pubsub.publish('events', { n: 1 })) > 0, { timeoutMs: 10_000, what: 'a subscriber' });
    await waitUntil(() => got.length > 0, { timeoutMs: 10_000, what: 'the message' });
    await off();

    const health = await app.get(RedisHealthIndicator).isHealthy();
    expect(health.redis.status).toBe('up');

    // Every key the library wrote is under the prefix (the ACL would have refused anything else).
    const keys = (await server.command('KEYS', '*')) as string[];
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(PREFIX)).toBe(true);
    expect(connection.status()).toBe('connected');
    expect(connection.breakerStats()).toMatchObject({ opened: 0 });
  });

  it('a missing command is a RedisPermissionError naming it, every time, with no fallback and no breaker trip', async () => {
    const withoutZadd = redisAclRule({ keyPrefix: PREFIX }).replace(' +zadd', '');
    await setUser(server, 'app-no-zadd', APP_PASSWORD, withoutZadd);
    const app = await boot('app-no-zadd', APP_PASSWORD);
    const sessions = app.get(SessionService);
    for (let i = 0; i < 5; i++) {
      const error = await sessions.create({ userId: `u${i}` }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RedisPermissionError);
      expect(error).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'zadd', refused: 'command' });
      expect((error as Error).message).toContain("may not run 'zadd' (in script session-create)");
      expect((error as Error).message).toContain('redisAclRule');
    }
    const connection = app.get(RedisConnection);
    expect(connection.status()).toBe('connected');
    expect(connection.breakerStats()).toMatchObject({ opened: 0, consecutiveFailures: 0 });
  });

  it('a key prefix outside the ACL patterns is a RedisPermissionError about keys, not an outage', async () => {
    const app = await boot('app', APP_PASSWORD, 'elsewhere:');
    const error = await app
      .get(CacheService)
      .set('k', 1)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(RedisPermissionError);
    expect(error).toMatchObject({ code: 'E_REDIS_NOPERM', refused: 'key' });
    expect(app.get(RedisConnection).status()).toBe('connected');
  });
});

describe('RedisPermissionError through the breaker', () => {
  it('is thrown by the FallbackEngine, not answered from memory', async () => {
    await setUser(server, 'app-no-get', APP_PASSWORD, redisAclRule({ keyPrefix: PREFIX }).replace(' +get', ''));
    const client = new Redis({ host: '127.0.0.1', port: server.port, username: 'app-no-get', password: APP_PASSWORD });
    const engine = new FallbackEngine(new RedisEngine(client, { keyPrefix: PREFIX }), new MemoryEngine({ maxEntries: 100, maxBytes: 1_000_000 }), {
      commandTimeoutMs: 1_000,
      failureThreshold: 1,
      probeIntervalMs: 50,
      maxProbeIntervalMs: 100,
      journalLimit: 10,
    });
    try {
      await engine.set('k', 'v');
      for (let i = 0; i < 3; i++) await expect(engine.get('k')).rejects.toMatchObject({ code: 'E_REDIS_NOPERM', command: 'get' });
      expect(engine.mode()).toBe('redis');
    } finally {
      await engine.close();
      client.disconnect();
    }
  });

  it('lists the library commands once each', () => {
    const all = Object.values(REDIS_ACL_COMMANDS).flat();
    expect(new Set(all).size).toBe(all.length);
    expect(redisAclRule({ keyPrefix: 'app:' })).toMatch(/^resetkeys ~app:\* resetchannels &app:\* -@all \+get /);
    expect(() => redisAclRule({ keyPrefix: '' })).toThrow(/keyPrefix is required/);
  });
});
