import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { PresenceService } from '../../src/presence/presence.service.js';
import { RedisModule } from '../../src/redis.module.js';
import { RedisUnavailableError } from '../../src/redis.errors.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';

const DEADLINE_MS = 200;

/** Two app instances (Nest application contexts) on one Redis, each with its own connection. */
describe('presence while Redis is away and after it returns', () => {
  let server: RedisProcess;
  let apps: INestApplicationContext[] = [];
  let prefixes = 0;

  const instance = async (keyPrefix: string, presence: RedisModuleOptions['presence']) => {
    @Module({ imports: [RedisModule.forRoot({ url: server.url, keyPrefix, commandTimeoutMs: DEADLINE_MS, breaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200 }, presence })] })
    class InstanceModule {}
    const app = await NestFactory.createApplicationContext(InstanceModule, { logger: ['error'] });
    apps.push(app);
    return { presence: app.get(PresenceService), connection: app.get(RedisConnection) };
  };
  const pair = async (presence: RedisModuleOptions['presence'] = { ttl: '30s', heartbeat: '500ms' }) => {
    const prefix = `po${++prefixes}:`;
    return [await instance(prefix, presence), await instance(prefix, presence)] as const;
  };
  const on = (status: string, ...list: { connection: RedisConnection }[]) =>
    waitUntil(() => list.every((i) => i.connection.status() === status), { timeoutMs: 20_000, what: `instances ${status}` });

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    if (server.paused) server.resume();
    if (!server.running) await server.start();
    for (const app of apps) await app.close();
    apps = [];
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('Redis killed and restarted empty: each instance answers for its own sockets meanwhile, and re-registers them after', async () => {
    const [a, b] = await pair();
    await a.presence.connect('alice', 's1');
    await a.presence.join('s1', 'support');
    await a.presence.setStatus('alice', 'busy');
    await a.presence.connect('bob', 's2');
    await b.presence.connect('carol', 's3');
    expect(await b.presence.onlineUsers()).toEqual(['alice', 'bob', 'carol']);

    await server.kill();
    await waitUntil(async () => (await a.presence.isOnline('alice')) && a.connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'A on memory' });
    // A knows its own sockets only; B its own.
    expect(await a.presence.onlineUsers()).toEqual(['alice', 'bob']);
    expect(await a.presence.onlineUsers('support')).toEqual(['alice']);
    expect(await a.presence.status('alice')).toBe('busy');
    expect(await a.presence.isOnline('carol')).toBe(false);
    expect(await b.presence.onlineUsers()).toEqual(['carol']);
    // Changes made meanwhile are kept for Redis.
    await a.presence.connect('dave', 's4');
    await a.presence.setStatus('dave', 'away');
    await a.presence.disconnect('s2');
    expect(await a.presence.onlineUsers()).toEqual(['alice', 'dave']);
    // A status for a user held elsewhere cannot be kept: said, not swallowed.
    await expect(a.presence.setStatus('carol', 'busy')).rejects.toThrow(RedisUnavailableError);

    await server.start();
    // Restarted with nothing to load (no RDB, no AOF): it came back empty. DBSIZE cannot show it, since
    // the instances may already be registering again by the time it is asked.
    expect(await server.command('CONFIG', 'GET', 'save')).toEqual(['save', '']);
    expect(await server.command('CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'no']);
    expect(/rdb_last_load_keys_loaded:(\d+)/.exec(String(await server.command('INFO', 'persistence')))?.[1]).toBe('0');
    await on('connected', a, b);
    await waitUntil(async () => (await b.presence.onlineUsers()).join() === 'alice,carol,dave', { timeoutMs: 10_000, what: 'every live socket registered again' });
    expect(await b.presence.onlineUsers('support')).toEqual(['alice']);
    expect(await b.presence.socketsOf('dave')).toEqual(['s4']);
    await waitUntil(async () => (await b.presence.status('dave')) === 'away' && (await b.presence.status('alice')) === 'busy', {
      timeoutMs: 10_000,
      what: 'statuses written again',
    });
    expect(await b.presence.isOnline('bob')).toBe(false);
  }, 60_000);

  it('Redis paused (its data kept): a disconnect made meanwhile reaches it on recovery, long before ttl', async () => {
    const [a, b] = await pair({ ttl: '60s', heartbeat: '500ms' });
    await a.presence.connect('alice', 's1');
    await a.presence.connect('bob', 's2');
    await a.presence.join('s2', 'room');
    await a.presence.setStatus('alice', 'available');
    server.pause();
    try {
      await waitUntil(async () => (await a.presence.isOnline('bob')) && a.connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'A on memory' });
      await a.presence.disconnect('s2');
      await a.presence.setStatus('alice', 'busy');
      expect(await a.presence.status('alice')).toBe('busy');
    } finally {
      server.resume();
    }
    await on('connected', a, b);
    await waitUntil(async () => !(await b.presence.isOnline('bob')), { timeoutMs: 10_000, what: 'bob offline on B' });
    expect(await b.presence.onlineUsers('room')).toEqual([]);
    expect(await b.presence.onlineUsers()).toEqual(['alice']);
    await waitUntil(async () => (await b.presence.status('alice')) === 'busy', { timeoutMs: 10_000, what: 'the status set meanwhile on B' });
  }, 60_000);

  it('while Redis is away, an instance knows the status another instance set for its user (learned by its heartbeat)', async () => {
    const [a, b] = await pair({ ttl: '5s', heartbeat: '200ms' });
    await a.presence.connect('agent', 's1');
    await b.presence.setStatus('agent', 'busy');
    await new Promise((r) => setTimeout(r, 800));
    server.pause();
    try {
      await waitUntil(async () => (await a.presence.isOnline('agent')) && a.connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'A on memory' });
      expect(await a.presence.status('agent')).toBe('busy');
    } finally {
      server.resume();
    }
  }, 30_000);

  it('a status set on another instance is not overwritten by the heartbeat', async () => {
    const [a, b] = await pair({ ttl: '5s', heartbeat: '200ms' });
    await a.presence.connect('agent', 's1');
    await a.presence.setStatus('agent', 'available');
    await b.presence.setStatus('agent', 'busy');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await a.presence.status('agent')).toBe('busy');
    expect(await b.presence.status('agent')).toBe('busy');
  });
});
