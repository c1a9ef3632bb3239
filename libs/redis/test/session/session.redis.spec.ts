import { Redis } from 'ioredis';
import { runSessionSuite } from './session.behaviour.js';
import { runTwinEquivalence } from './session.twins.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisEngine } from '../../src/engine/redis.engine.js';

let server: RedisProcess | undefined;
let users = 0;

/** One server for both suites; each opens its own client and the last one out stops the server. */
async function open(keyPrefix: string) {
  server ??= await startRedis();
  users++;
  const client = new Redis(server.url);
  const engine = new RedisEngine(client, { keyPrefix });
  return {
    engine,
    close: async () => {
      await engine.close();
      client.disconnect();
      if (--users === 0) {
        await server?.stop();
        server = undefined;
      }
    },
  };
}

runSessionSuite('Redis standalone', () => open('app:'));
runTwinEquivalence('Redis standalone', () => open('twin:'));
