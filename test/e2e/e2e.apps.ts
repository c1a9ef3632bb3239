import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AppModule as DemoModule } from '../../apps/demo/src/app.module.js';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { AppModule as GatewayModule } from '../../apps/gateway/src/app.module.js';

export const SECRET = 'e2e-shared-secret-0123456789';

export interface Running {
  app: INestApplication;
  url: string;
}

async function listen(app: INestApplication): Promise<Running> {
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1') };
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
  const moduleRef = await Test.createTestingModule({ imports: [DemoModule] }).overrideProvider(DemoDatabase).useValue(db).compile();
  return listen(moduleRef.createNestApplication({ logger: false }));
}

export async function bootGateway(demoUrls: string[]): Promise<Running> {
  setEnv({ DEMO_URL: demoUrls.join(',') });
  const moduleRef = await Test.createTestingModule({ imports: [GatewayModule] }).compile();
  return listen(moduleRef.createNestApplication({ logger: false }));
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
