import { freePort, startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { describe, expect, it } from '@jest/globals';
import { RedisUnavailableError } from '../../src/redis.errors.js';
import { runStoreEngineContract } from './store-engine.contract.js';

let server: RedisProcess;

runStoreEngineContract('fallback, Redis up', async () => {
  server = await startRedis();
  const connection = new RedisConnection(resolveRedisOptions({ url: server.url, keyPrefix: 'contract:' }));
  await connection.onModuleInit();
  expect(connection.status()).toBe('connected');
  return {
    engine: connection.engine,
    mode: 'redis',
    close: async () => {
      expect(connection.engine.mode()).toBe('redis');
      await connection.onApplicationShutdown();
      await server.stop();
    },
  };
});

runStoreEngineContract('fallback, Redis down', async () => {
  // Nothing listens on this port: every command is answered by the in-memory fallback.
  const port = await freePort();
  const connection = new RedisConnection(resolveRedisOptions({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 500, keyPrefix: 'contract:' }));
  await connection.onModuleInit();
  expect(connection.status()).toBe('memory-fallback');
  return {
    engine: connection.engine,
    mode: 'fallback',
    close: async () => {
      expect(connection.engine.mode()).toBe('fallback');
      await connection.onApplicationShutdown();
    },
  };
});

describe("StoreEngine contract: fallback 'none', Redis down", () => {
  it("says 'unavailable' and rejects with RedisUnavailableError, with or without { fallback: false }", async () => {
    const port = await freePort();
    const connection = new RedisConnection(resolveRedisOptions({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300, fallback: 'none', keyPrefix: 'contract:' }));
    await connection.onModuleInit();
    try {
      const engine = connection.engine;
      expect(engine.mode()).toBe('unavailable');
      await expect(engine.get('k', { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(engine.set('k', 'v', { fallback: false })).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(engine.get('k')).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(engine.clear()).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      await connection.onApplicationShutdown();
    }
  });
});
