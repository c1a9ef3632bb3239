import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { MessageHistory } from '../../src/history/history.service.js';
import { RedisConfigError } from '../../src/redis.errors.js';
import { RedisModule } from '../../src/redis.module.js';

describe('RedisModule provides MessageHistory', () => {
  let server: RedisProcess;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const boot = async (options: Parameters<typeof RedisModule.forRoot>[0]) => {
    const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot(options)] }).compile();
    const app = moduleRef.createNestApplication({ logger: ['warn', 'error'] });
    await app.init();
    return app;
  };

  it('always, without a history section, on Redis under the key prefix', async () => {
    const app = await boot({ url: server.url, keyPrefix: 'mod:' });
    try {
      const history = app.get(MessageHistory);
      const sent = await history.append('lobby', { from: 'ann', body: 'hi' });
      expect(await history.last('lobby')).toEqual([sent]);
      expect(await server.command('XLEN', 'mod:history:{lobby}')).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('with its options: the cap and the size limit apply', async () => {
    const app = await boot({ url: server.url, keyPrefix: 'mod2:', history: { maxLength: 2, maxMessageBytes: 10 } });
    try {
      const history = app.get(MessageHistory);
      for (const body of ['1', '2', '3']) await history.append('room', { from: 'a', body });
      expect((await history.last('room')).map((m) => m.body)).toEqual(['2', '3']);
      await expect(history.append('room', { from: 'a', body: 'x'.repeat(10) })).rejects.toMatchObject({ code: 'E_HISTORY_INPUT' });
    } finally {
      await app.close();
    }
  });

  it('without Redis configured, on the embedded store', async () => {
    const app = await boot({});
    try {
      const history = app.get(MessageHistory);
      const sent = await history.append('room', { from: 'a', body: 'b' });
      expect(await history.last('room')).toEqual([sent]);
    } finally {
      await app.close();
    }
  });

  it('refuses bad history options at start-up, naming them', async () => {
    await expect(boot({ url: server.url, history: { maxLength: 0, maxMessageBytes: -1 } })).rejects.toThrow(RedisConfigError);
    await expect(boot({ url: server.url, history: { maxLength: 1.5 } })).rejects.toThrow(/history\.maxLength must be a positive integer/);
  });
});
