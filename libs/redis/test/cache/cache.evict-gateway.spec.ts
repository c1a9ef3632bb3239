import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { io, type Socket } from 'socket.io-client';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { CacheEvict } from '../../src/cache/cache.methods.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisModule } from '../../src/redis.module.js';

const steps: string[] = [];

@WebSocketGateway()
class NotesGateway {
  @SubscribeMessage('rename')
  @CacheEvict({ tags: ['notes'] })
  rename(@MessageBody() name: string) {
    steps.push('handler');
    return { event: 'renamed', data: name };
  }
}

describe('@CacheEvict on a gateway handler (standalone Redis)', () => {
  let server: RedisProcess;
  let app: INestApplication;
  let client: Socket;

  beforeAll(async () => {
    server = await startRedis();
    @Module({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'evict-gw:' })], providers: [NotesGateway] })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: ['warn', 'error'] });
    app.useWebSocketAdapter(new IoAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    client = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise((resolve) => client.once('connect', () => resolve(undefined)));
  });
  afterAll(async () => {
    client?.disconnect();
    await app?.close();
    await server?.stop();
  });

  it('the reply reaches the client only once the eviction is done, as an HTTP response does', async () => {
    const cache = app.get(CacheService);
    const invalidateTags = cache.invalidateTags.bind(cache);
    // A slow Redis round trip: the eviction takes a while to be done.
    cache.invalidateTags = async (tags: readonly string[]) => {
      await new Promise((r) => setTimeout(r, 300));
      await invalidateTags(tags);
      steps.push('evicted');
    };
    try {
      const reply = new Promise((resolve) => client.once('renamed', (name: unknown) => resolve(name)));
      client.emit('rename', 'groceries');
      expect(await reply).toBe('groceries');
      steps.push('reply');
      expect(steps).toEqual(['handler', 'evicted', 'reply']);
    } finally {
      cache.invalidateTags = invalidateTags;
    }
  });
});
