import 'reflect-metadata';
import { Module, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { RateLimit, RedisModule, SessionService, type RedisModuleOptions } from 'nestjs-redis-kit';
import { RedisIoAdapter, socketUser, type RedisIoAdapterOptions } from 'nestjs-redis-kit/socket.io';
import { WsRateLimitGuard } from 'nestjs-redis-kit/websockets';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { waitUntil } from '@nestjs-redis-kit/test-support';

interface ServerLike {
  emit(event: string, ...args: unknown[]): boolean;
  to(room: string): { emit(event: string, ...args: unknown[]): boolean };
  local: { emit(event: string, ...args: unknown[]): boolean };
  in(room: string): { fetchSockets(): Promise<Array<{ id: string; data: { userId?: string } }>> };
}

@WebSocketGateway()
@UseGuards(WsRateLimitGuard)
export class ChatGateway {
  @WebSocketServer() server!: ServerLike;

  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() socket: { data?: unknown }) {
    return { event: 'me', data: { user: socketUser(socket) ?? null, data: socket.data } };
  }

  @SubscribeMessage('say')
  @RateLimit({ limit: 3, window: '1m', name: 'say' })
  say(@MessageBody() text: string) {
    return { event: 'said', data: text };
  }
}

/** One Nest application serving the gateway through RedisIoAdapter on a loopback port. */
export interface IoInstance {
  app: INestApplication;
  url: string;
  gateway: ChatGateway;
  sessions: SessionService;
  close(): Promise<void>;
}

export async function startInstance(redis: RedisModuleOptions, adapter: RedisIoAdapterOptions = {}): Promise<IoInstance> {
  @Module({ imports: [RedisModule.forRoot(redis)], providers: [ChatGateway] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: ['warn', 'error'] });
  app.useWebSocketAdapter(new RedisIoAdapter(app, adapter));
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as { port: number }).port;
  let closed = false;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    gateway: app.get(ChatGateway),
    sessions: app.get(SessionService),
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** A socket.io-client that records every event it receives. */
export class TestClient {
  readonly events: Array<{ event: string; args: unknown[] }> = [];
  disconnectReason?: string;
  constructor(readonly socket: ClientSocket) {
    socket.onAny((event: string, ...args: unknown[]) => this.events.push({ event, args }));
    socket.on('disconnect', (reason) => (this.disconnectReason = reason));
  }
  received(event: string): unknown[] {
    return this.events.filter((e) => e.event === event).map((e) => e.args[0]);
  }
  async waitFor(event: string, predicate: (payload: unknown) => boolean = () => true, timeoutMs = 10_000): Promise<unknown> {
    await waitUntil(() => this.received(event).some(predicate), { timeoutMs, what: `event "${event}" on the client` });
    return this.received(event).find(predicate);
  }
  close(): void {
    this.socket.disconnect();
  }
}

const clients: TestClient[] = [];

/** Connects; resolves with the client once connected, or rejects with the connect_error. */
export function connect(url: string, options: { token?: string; cookie?: string } = {}): Promise<TestClient> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: options.token === undefined ? {} : { token: options.token },
    extraHeaders: options.cookie ? { cookie: options.cookie } : undefined,
  });
  const client = new TestClient(socket);
  clients.push(client);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (error: Error & { data?: unknown }) => reject(error));
  });
}

export function closeClients(): void {
  for (const c of clients.splice(0)) c.close();
}
