import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import 'reflect-metadata';
import { Module, UseGuards, type INestApplication } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageBody, SubscribeMessage, WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { RateLimit, RedisModule } from 'nestjs-redis-kit';
import { WsRateLimitGuard } from 'nestjs-redis-kit/websockets';
import { WebSocket } from 'ws';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';

let handled = 0;

@WebSocketGateway({ path: '/ws' })
@UseGuards(WsRateLimitGuard)
class ChatGateway implements OnGatewayConnection {
  // The subject comes from the handshake: the user the (stand-in) authentication put on the socket.
  handleConnection(client: WebSocket & { user?: { id: string } }, request: IncomingMessage) {
    const user = new URL(request.url ?? '/', 'http://x').searchParams.get('user');
    if (user) client.user = { id: user };
  }

  @SubscribeMessage('say')
  @RateLimit({ limit: 3, window: '1m', name: 'say' })
  say(@MessageBody() text: string) {
    handled++;
    return { event: 'said', data: text };
  }

  @SubscribeMessage('shout')
  @RateLimit({ limit: 1, window: '1m', name: 'shout', by: 'ip', message: 'Slow down: {retryAfter} s' })
  shout() {
    handled++;
    return { event: 'shouted', data: true };
  }
}

interface Frame {
  event: string;
  data: Record<string, unknown> | string | boolean;
}

class Client {
  readonly frames: Frame[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => this.frames.push(JSON.parse(String(raw)) as Frame));
  }
  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Client(ws);
  }
  /** Sends `n` messages and waits until each got its answer (a reply or an exception). */
  async send(event: string, n: number, data: unknown = 'hi'): Promise<Frame[]> {
    const start = this.frames.length;
    for (let i = 0; i < n; i++) this.ws.send(JSON.stringify({ event, data }));
    await waitUntil(() => this.frames.length >= start + n, { timeoutMs: 10_000, what: `${n} answers to "${event}"` });
    return this.frames.slice(start, start + n);
  }
  close() {
    this.ws.close();
  }
}

describe('WsRateLimitGuard over a real WebSocket gateway (platform-ws) and Redis', () => {
  let server: RedisProcess;
  let app: INestApplication;
  let url: string;
  const clients: Client[] = [];
  const open = async (query = '') => {
    const c = await Client.open(`${url}${query}`);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await startRedis();
    @Module({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'ws-rl:' })], providers: [ChatGateway] })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    url = `ws://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/ws`;
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.close();
    await server?.stop();
  });

  it('admits up to the limit per handshake user, then answers with a 429 exception event; the handler does not run', async () => {
    const alice = await open('?user=alice');
    const before = handled;
    // Messages of one socket are handled concurrently: answers may come in any order.
    const frames = await alice.send('say', 5);
    expect(frames.filter((f) => f.event === 'said')).toEqual(Array(3).fill({ event: 'said', data: 'hi' }));
    expect(frames.filter((f) => f.event === 'exception')).toHaveLength(2);
    for (const f of frames.filter((f) => f.event !== 'said')) {
      expect(f.event).toBe('exception');
      expect(f.data).toMatchObject({ status: 'error', statusCode: 429, error: 'Too Many Requests', policy: 'say' });
      expect((f.data as { retryAfter: number }).retryAfter).toBeGreaterThan(0);
    }
    expect(handled - before).toBe(3);
    // The connection stays usable, and the budget is the user's: a second socket of alice is refused too...
    const alice2 = await open('?user=alice');
    expect((await alice2.send('say', 1))[0]!.event).toBe('exception');
    // ...while bob, on his own socket, has his own budget.
    const bob = await open('?user=bob');
    expect((await bob.send('say', 1))[0]).toEqual({ event: 'said', data: 'hi' });
  });

  it("by: 'ip' keys by the socket's peer address, and the policy's message is the one configured", async () => {
    const a = await open('?user=carol');
    const b = await open('?user=dave');
    expect((await a.send('shout', 1))[0]).toEqual({ event: 'shouted', data: true });
    // Another user, same address: the same 'ip' budget.
    const refused = (await b.send('shout', 1))[0]!;
    expect(refused.event).toBe('exception');
    expect(refused.data).toMatchObject({ statusCode: 429, policy: 'shout' });
    expect((refused.data as { message: string }).message).toMatch(/^Slow down: \d+ s$/);
  });
});

describe('WsRateLimitGuard registered twice (APP_GUARD and @UseGuards on the gateway)', () => {
  let server: RedisProcess;
  let app: INestApplication;
  let client: Client | undefined;

  beforeAll(async () => {
    server = await startRedis();
    @Module({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix: 'ws-rl-twice:' })], providers: [ChatGateway, { provide: APP_GUARD, useClass: WsRateLimitGuard }] })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await app?.close();
    await server?.stop();
  });

  it('charges a message once: the limit is the one declared', async () => {
    client = await Client.open(`ws://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/ws?user=erin`);
    const frames = await client.send('say', 5);
    expect(frames.filter((f) => f.event === 'said')).toHaveLength(3);
    expect(frames.filter((f) => f.event === 'exception')).toHaveLength(2);
  });
});
