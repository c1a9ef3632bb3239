import { Redis } from 'ioredis';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { runCoherenceSuite } from './cache.coherence.suite.js';

let server: RedisProcess | undefined;

runCoherenceSuite({
  label: 'standalone Redis',
  start: async () => {
    server = await startRedis();
  },
  stop: async () => {
    await server?.stop();
  },
  options: () => ({ url: server!.url }),
  admin: () => new Redis(server!.url),
  processes: () => (server ? [server] : []),
});
