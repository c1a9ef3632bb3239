import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { INestApplication, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';

/** A throwaway redis-server on a loopback port: no persistence, killed by `stop()`. */
export interface RedisServerFixture {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function startOn(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`redis-server on port ${port} not ready within 10 s:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        cleanup();
        // Nothing reads the pipes from here on; a full pipe must not stall the server.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    const onExit = (code: number | null) => fail(new Error(`redis-server on port ${port} exited with code ${code}:\n${output}`));
    const onError = (error: NodeJS.ErrnoException) =>
      fail(error.code === 'ENOENT' ? new Error('redis-server is not installed: apt-get install redis-server') : error);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const fail = (error: Error) => {
      cleanup();
      child.kill('SIGKILL');
      reject(error);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

export async function startRedisServer(): Promise<RedisServerFixture> {
  let lastError: unknown;
  // Another process can take the port between the probe and redis-server's bind; try a new one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeLoopbackPort();
    try {
      const child = await startOn(port);
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        },
      };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
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

/** Boots an app module the way main.ts does, on an ephemeral loopback port. */
export async function bootApp(module: Type<unknown>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  // Listening first keeps supertest from binding its own server on every interface.
  await app.listen(0, '127.0.0.1');
  return app;
}
