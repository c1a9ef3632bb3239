import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisEngine } from '../../src/engine/redis.engine.js';
import { runStoreEngineContract } from './store-engine.contract.js';

let server: RedisProcess;

runStoreEngineContract('redis standalone', async () => {
  server = await startRedis();
  const client = new Redis(server.port, '127.0.0.1');
  // A key of another application under a different prefix: clear() must leave it alone.
  await client.set('other-app:keep', '1');
  const engine = new RedisEngine(client, { keyPrefix: 'contract:' });
  return {
    engine,
    mode: 'redis',
    close: async () => {
      await engine.close();
      expect(await client.get('other-app:keep')).toBe('1');
      client.disconnect();
      await server.stop();
    },
  };
});
