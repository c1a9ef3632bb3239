import { freePort } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { resolveRedisOptions } from '../../src/redis.options.js';
import { runHistoryBehaviour } from './history.behaviour.js';

runHistoryBehaviour('the embedded memory store', async () => {
  const engine = new MemoryEngine({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
  return { engine, close: () => engine.close() };
});

runHistoryBehaviour('the fallback while Redis is away', async () => {
  // Nothing listens on this port: every call is answered by the in-memory fallback (appends journaled).
  const port = await freePort();
  const connection = new RedisConnection(resolveRedisOptions({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300, keyPrefix: 'h:' }));
  await connection.onModuleInit();
  return { engine: connection.engine, close: () => connection.onApplicationShutdown() };
});
