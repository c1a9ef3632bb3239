import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { compileFixture, REPO_ROOT, startCluster, startRedis, waitUntil, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { PresenceService } from '../../src/presence/presence.service.js';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';

const TTL_MS = 2_000;
const PRESENCE = { ttl: `${TTL_MS}ms`, heartbeat: '500ms' };
/** Generous: the bound under test is the ttl, the margin only absorbs a loaded machine. */
const MARGIN_MS = 6_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let entry = '';

/** Starts one app instance as its own process; resolves once its sockets are registered. */
function startInstance(config: object): Promise<ChildProcess> {
  const child = spawn(process.execPath, [entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, PRESENCE_INSTANCE_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`instance not ready within 60 s: ${output}`)), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (!/READY \d+/.test(output)) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve(child);
    });
    child.once('exit', (code, signal) => fail(new Error(`instance exited (${code ?? signal}): ${output}`)));
  });
}

const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

async function appContext(redis: RedisModuleOptions): Promise<INestApplicationContext> {
  @Module({ imports: [RedisModule.forRoot(redis)] })
  class ObserverModule {}
  return NestFactory.createApplicationContext(ObserverModule, { logger: ['warn', 'error'] });
}

describe('an instance killed with SIGKILL: its users go offline on the others within ttl', () => {
  let server: RedisProcess;
  let cluster: RedisClusterHandle;
  const children: ChildProcess[] = [];
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    entry = compileFixture(new URL('./fixtures/presence-instance.ts', import.meta.url), 'presence-instance');
    server = await startRedis();
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  }, 180_000);
  afterAll(async () => {
    for (const child of children) await killed(child);
    for (const app of apps) await app.close();
    await server?.stop();
    await cluster?.stop();
  });

  const targets: [string, () => RedisModuleOptions][] = [
    ['standalone', () => ({ url: server.url })],
    ['Cluster (3 masters)', () => ({ cluster: { nodes: cluster.seeds } })],
  ];
  for (const [label, target] of targets) {
    it(`on ${label}`, async () => {
      const redis: RedisModuleOptions = { ...target(), keyPrefix: `crash-${label.slice(0, 4)}:`, presence: PRESENCE };
      const observer = await appContext(redis);
      apps.push(observer);
      const presence = observer.get(PresenceService);
      await presence.connect('alive', 'a1');
      await presence.join('a1', 'support');

      const child = await startInstance({
        redis,
        sockets: [
          { userId: 'ghost-1', socketId: 'g1', rooms: ['support'], status: 'available' },
          { userId: 'ghost-1', socketId: 'g2', rooms: [] },
          { userId: 'ghost-2', socketId: 'g3', rooms: ['support', 'sales'] },
          { userId: 'alive', socketId: 'g4', rooms: ['sales'] },
        ],
      });
      children.push(child);
      expect(await presence.onlineUsers()).toEqual(['alive', 'ghost-1', 'ghost-2']);
      // Alive and beating: still listed well past its ttl.
      await sleep(TTL_MS + 1_000);
      expect(await presence.onlineUsers('support')).toEqual(['alive', 'ghost-1', 'ghost-2']);
      expect(await presence.socketsOf('ghost-1')).toEqual(['g1', 'g2']);
      expect(await presence.status('ghost-1')).toBe('available');
      expect(await presence.socketsOf('alive')).toEqual(['a1', 'g4']);

      await killed(child);
      const killedAt = Date.now();
      await waitUntil(async () => (await presence.onlineUsers()).join() === 'alive', { timeoutMs: TTL_MS + MARGIN_MS, what: 'the killed instance’s users to go offline' });
      const gone = Date.now() - killedAt;
      process.stderr.write(`presence ${label}: killed instance's users offline after ${gone} ms (ttl ${TTL_MS} ms)\n`);
      expect(await presence.isOnline('ghost-1')).toBe(false);
      expect(await presence.isOnline('ghost-2')).toBe(false);
      expect(await presence.status('ghost-1')).toBeUndefined();
      expect(await presence.onlineUsers('support')).toEqual(['alive']);
      expect(await presence.onlineUsers('sales')).toEqual([]);
      // The user who also had a socket on the killed instance keeps the live one.
      expect(await presence.socketsOf('alive')).toEqual(['a1']);
    }, 60_000);
  }
});
