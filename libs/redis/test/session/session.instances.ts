import { afterAll, beforeAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis.engine.js';
import type { SessionOptions } from '../../src/session/session.options.js';
import { SessionService } from '../../src/session/session.service.js';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

export interface Instances {
  /** One application instance: its own connection and SessionService, on the suite's one Redis. */
  instance(options?: SessionOptions): SessionService;
  /** A plain client on that Redis, for looking at what is stored. */
  redis(): Redis;
}

/**
 * Starts one redis-server for the calling `describe` and hands out application instances on it;
 * everything is closed after the suite. Keys live under `keyPrefix`.
 */
export function useInstances(keyPrefix: string, defaults: SessionOptions = {}): Instances {
  let server: RedisProcess;
  const clients: Redis[] = [];
  const services: SessionService[] = [];
  const connect = () => {
    const client = new Redis(server.url);
    clients.push(client);
    return client;
  };
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const s of services) s.close();
    for (const c of clients) c.disconnect();
    await server?.stop();
  });
  return {
    instance(options = {}) {
      const service = new SessionService(new RedisEngine(connect(), { keyPrefix }), { sweepInterval: 0, ...defaults, ...options });
      services.push(service);
      return service;
    },
    redis: () => clients[0] ?? connect(),
  };
}
