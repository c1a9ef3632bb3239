/**
 * The one fixture of the app e2e tests: env control, booting the demo and the gateway in process on
 * loopback ports, and HTTP/SSE helpers. Redis comes from @nestjs-redis-kit/test-support.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { INestApplication, Type } from '@nestjs/common';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import { AppModule as DemoModule } from '../../apps/demo/src/app.module.js';
import { useSocketIo } from '../../apps/demo/src/chat/chat.adapter.js';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { AppModule as GatewayModule } from '../../apps/gateway/src/app.module.js';

export const SECRET = 'e2e-shared-secret-0123456789';

export interface Running {
  app: INestApplication;
  url: string;
}

async function running(app: INestApplication): Promise<Running> {
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1') };
}

/** Returns a function that puts process.env back exactly as it is now (added keys removed). */
export function snapshotEnv(): () => void {
  const saved = { ...process.env };
  return () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  };
}

/** Every variable that changes which store the apps use or what the gateway reports; the demo database in memory. */
export function clearAppEnv(): void {
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('REDIS_') || key === 'DEMO_URL') delete process.env[key];
  }
  // The demo's database: in memory and without artificial latency, so tests leave no file behind.
  process.env.DEMO_DB_PATH = ':memory:';
  process.env.DEMO_DB_LATENCY_MS = '0';
}

/** Boots an app module the way main.ts does, on an ephemeral loopback port; `override` replaces providers. */
export async function bootApp(module: Type<unknown>, override: (builder: TestingModuleBuilder) => TestingModuleBuilder = (b) => b): Promise<INestApplication> {
  const moduleRef = await override(Test.createTestingModule({ imports: [module] })).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  // Listening first keeps supertest from binding its own server on every interface.
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Env for the next boot; ConfigModule reads process.env when the app module is compiled. */
export function setEnv(values: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}

/** A demo instance on the given database: instances of one deployment share one database. */
export async function bootDemo(db: DemoDatabase): Promise<Running> {
  return running(await bootApp(DemoModule, (b) => b.overrideProvider(DemoDatabase).useValue(db)));
}

/** A demo instance as main.ts boots it, Socket.IO included (Redis adapter, authenticated sockets). */
export async function bootDemoWithSockets(db: DemoDatabase): Promise<Running> {
  const moduleRef = await Test.createTestingModule({ imports: [DemoModule] }).overrideProvider(DemoDatabase).useValue(db).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  useSocketIo(app);
  await app.listen(0, '127.0.0.1');
  return running(app);
}

export async function bootGateway(demoUrls: string[]): Promise<Running> {
  setEnv({ DEMO_URL: demoUrls.join(',') });
  return running(await bootApp(GatewayModule));
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

export async function call(base: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(base + path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: kept as text.
  }
  return { status: response.status, headers: response.headers, body };
}

/** An SSE client: resolves once the response headers arrived; `events` fills as data lines come in. */
export function openStream(url: string): Promise<{ response: IncomingMessage; events: any[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const events: any[] = [];
    const req = httpRequest(url, { headers: { accept: 'text/event-stream' } }, (response) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          if (data) events.push(JSON.parse(data));
        }
      });
      response.on('error', () => undefined);
      resolve({ response, events, close: () => req.destroy() });
    });
    req.on('error', (error) => (events.length === 0 ? reject(error) : undefined));
    req.end();
  });
}
