import { runCacheSuite } from './cache.behaviour.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

let server: RedisProcess | undefined;

runCacheSuite(
  { label: 'standalone Redis', options: () => ({ url: server!.url }), shared: true },
  {
    beforeAll: async () => {
      server = await startRedis();
    },
    afterAll: async () => {
      await server?.stop();
    },
  },
);
