import { freePort, startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { runStoreEngineContract } from './store-engine.contract.js';

let server: RedisProcess;

runStoreEngineContract('fallback, Redis up', async () => {
  server = await startRedis();
  const connection = new RedisConnection(resolveRedisOptions({ url: server.url, keyPrefix: 'contract:' }));
  await connection.onModuleInit();
  expect(connection.status()).toBe('connected');
  return {
    engine: connection.engine,
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
  const connection = new RedisConnection(resolveRedisOptions({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 500 }));
  await connection.onModuleInit();
  expect(connection.status()).toBe('memory-fallback');
  return {
    engine: connection.engine,
    close: async () => {
      expect(connection.engine.mode()).toBe('fallback');
      await connection.onApplicationShutdown();
    },
  };
});
