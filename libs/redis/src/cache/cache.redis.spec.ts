import { runCacheSuite } from '../../../../test/cache/cache.behaviour.js';
import { startRedis, type RedisProcess } from '../../../../test/support/index.js';

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
