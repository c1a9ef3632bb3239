import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { startCluster, startRedis, waitUntil, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';
import { PubSubService } from '../../src/pubsub/pubsub.service.js';

class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(m: unknown) {
    this.lines.push(`log ${String(m)}`);
  }
  error(m: unknown) {
    this.lines.push(`error ${String(m)}`);
  }
  warn(m: unknown) {
    this.lines.push(`warn ${String(m)}`);
  }
  debug() {}
  verbose() {}
}

interface Instance {
  pubsub: PubSubService;
  connection: RedisConnection;
  logger: CapturingLogger;
}

const opened: TestingModule[] = [];

/** One application instance: its own RedisModule, connection and subscriber connection. */
async function instance(options: RedisModuleOptions): Promise<Instance> {
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot(options)] })
    .setLogger(logger)
    .compile();
  await moduleRef.init();
  opened.push(moduleRef);
  return { pubsub: moduleRef.get(PubSubService), connection: moduleRef.get(RedisConnection), logger };
}

/** Collects deliveries; `waitFor` polls until a predicate holds. */
function inbox<T = unknown>() {
  const received: Array<{ message: T; channel: string; pattern?: string }> = [];
  return {
    received,
    handler: (message: T, channel: string, pattern?: string) => {
      received.push(pattern === undefined ? { message, channel } : { message, channel, pattern });
    },
    waitFor: (what: string, predicate: () => boolean, timeoutMs = 5_000) => waitUntil(predicate, { timeoutMs, what }),
  };
}

const messages = <T>(box: { received: Array<{ message: T }> }) => box.received.map((r) => r.message);

async function closeAll(): Promise<void> {
  for (const moduleRef of opened.splice(0)) await moduleRef.close();
}

describe('PubSubService on a standalone Redis', () => {
  let server: RedisProcess;
  const raw: Redis[] = [];

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    await closeAll();
    for (const client of raw.splice(0)) client.disconnect();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const rawClient = () => {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    raw.push(client);
    return client;
  };

  it('round-trips JSON values and reports how many subscribers were reached', async () => {
    const { pubsub } = await instance({ url: server.url });
    const box = inbox();
    await pubsub.subscribe('orders', box.handler);
    expect(await pubsub.publish('orders', { id: 1, items: ['a', 'b'], total: 9.5 })).toBe(1);
    expect(await pubsub.publish('orders', 'plain string')).toBe(1);
    expect(await pubsub.publish('orders', null)).toBe(1);
    await box.waitFor('three messages', () => box.received.length === 3);
    expect(box.received).toEqual([
      { message: { id: 1, items: ['a', 'b'], total: 9.5 }, channel: 'orders' },
      { message: 'plain string', channel: 'orders' },
      { message: null, channel: 'orders' },
    ]);
  });

  it('channels live under keyPrefix: apps sharing a Redis do not hear each other', async () => {
    const app1 = await instance({ url: server.url, keyPrefix: 'app1:' });
    const app2 = await instance({ url: server.url, keyPrefix: 'app2:' });
    const box1 = inbox();
    const box2 = inbox();
    await app1.pubsub.subscribe('events', box1.handler);
    await app2.pubsub.subscribe('events', box2.handler);

    const spy = rawClient();
    const onRedis: Array<[string, string]> = [];
    spy.on('message', (channel: string, message: string) => onRedis.push([channel, message]));
    await spy.subscribe('app1:events', 'events');

    await app1.pubsub.publish('events', { from: 'app1' });
    await app2.pubsub.publish('events', { from: 'app2' });
    await box1.waitFor('app1 message', () => box1.received.length === 1);
    await box2.waitFor('app2 message', () => box2.received.length === 1);
    await waitUntil(() => onRedis.length === 1, { timeoutMs: 5_000, what: 'spy message' });
    expect(messages(box1)).toEqual([{ from: 'app1' }]);
    expect(messages(box2)).toEqual([{ from: 'app2' }]);
    // On the wire the channel carries the prefix; the unprefixed name never sees traffic.
    expect(onRedis).toEqual([['app1:events', '{"from":"app1"}']]);
  });

  it('pattern subscriptions receive the logical channel and pattern', async () => {
    const { pubsub } = await instance({ url: server.url, keyPrefix: 'pp:' });
    const box = inbox();
    await pubsub.psubscribe('orders.*', box.handler);
    await pubsub.publish('orders.eu', { n: 1 });
    await pubsub.publish('payments.eu', { n: 2 });
    await pubsub.publish('orders.us', { n: 3 });
    await box.waitFor('two matching messages', () => box.received.length === 2);
    expect(box.received).toEqual([
      { message: { n: 1 }, channel: 'orders.eu', pattern: 'orders.*' },
      { message: { n: 3 }, channel: 'orders.us', pattern: 'orders.*' },
    ]);
  });

  it('a handler that throws (or rejects) is logged and neither stops other handlers nor later messages', async () => {
    const { pubsub, logger } = await instance({ url: server.url });
    let thrownFor = 0;
    const good = inbox();
    await pubsub.subscribe('jobs', () => {
      thrownFor++;
      throw new Error('handler exploded');
    });
    await pubsub.subscribe('jobs', async () => {
      throw new Error('async handler exploded');
    });
    await pubsub.subscribe('jobs', good.handler);
    await pubsub.publish('jobs', { secret: 'token-abc' });
    await pubsub.publish('jobs', 2);
    await good.waitFor('both messages', () => good.received.length === 2);
    await waitUntil(() => logger.lines.filter((l) => l.startsWith('error')).length === 4, { timeoutMs: 5_000, what: 'four logged failures' });
    expect(messages(good)).toEqual([{ secret: 'token-abc' }, 2]);
    expect(thrownFor).toBe(2);
    const errors = logger.lines.filter((l) => l.startsWith('error'));
    expect(errors.filter((l) => l.includes('channel "jobs"') && l.includes('handler exploded'))).toHaveLength(4);
    // The message content is never logged.
    expect(logger.lines.join('\n')).not.toContain('token-abc');
  });

  it('a message that is not JSON is logged (without its content) and skipped', async () => {
    const { pubsub, logger } = await instance({ url: server.url, keyPrefix: 'js:' });
    const box = inbox();
    await pubsub.subscribe('feed', box.handler);
    await rawClient().publish('js:feed', 'not json {password=hunter2');
    await pubsub.publish('feed', { ok: true });
    await box.waitFor('the valid message', () => box.received.length === 1);
    expect(messages(box)).toEqual([{ ok: true }]);
    expect(logger.lines.filter((l) => l.startsWith('warn') && l.includes('channel "feed"') && l.includes('not valid JSON'))).toHaveLength(1);
    expect(logger.lines.join('\n')).not.toContain('hunter2');
  });

  it('rejects bad input with stable codes', async () => {
    const { pubsub } = await instance({ url: server.url });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(pubsub.publish('', 1)).rejects.toMatchObject({ code: 'E_PUBSUB_CHANNEL', message: 'channel must be a non-empty string (got "")' });
    await expect(pubsub.publish(42 as unknown as string, 1)).rejects.toMatchObject({ code: 'E_PUBSUB_CHANNEL' });
    await expect(pubsub.publish('c', undefined)).rejects.toMatchObject({ code: 'E_PUBSUB_MESSAGE' });
    await expect(pubsub.publish('c', cyclic)).rejects.toMatchObject({ code: 'E_PUBSUB_MESSAGE' });
    await expect(pubsub.publish('c', 10n)).rejects.toMatchObject({ code: 'E_PUBSUB_MESSAGE' });
    await expect(pubsub.subscribe('', () => undefined)).rejects.toMatchObject({ code: 'E_PUBSUB_CHANNEL' });
    await expect(pubsub.psubscribe('', () => undefined)).rejects.toMatchObject({ code: 'E_PUBSUB_CHANNEL', message: 'pattern must be a non-empty string (got "")' });
    await expect(pubsub.subscribe('c', null as never)).rejects.toMatchObject({ code: 'E_PUBSUB_HANDLER', message: 'handler must be a function (got null)' });
  });

  it('the unsubscribe function stops delivery to that handler only', async () => {
    const { pubsub } = await instance({ url: server.url });
    const leaving = inbox();
    const staying = inbox();
    const marker = inbox();
    const unsubscribe = await pubsub.subscribe('news', leaving.handler);
    await pubsub.subscribe('news', staying.handler);
    await pubsub.subscribe('marker', marker.handler);
    await pubsub.publish('news', 1);
    await leaving.waitFor('first message', () => leaving.received.length === 1);
    await unsubscribe();
    await pubsub.publish('news', 2);
    // One subscriber connection delivers in order: once the marker is in, message 2 would have been too.
    await pubsub.publish('marker', 'done');
    await marker.waitFor('marker', () => marker.received.length === 1);
    await staying.waitFor('both messages', () => staying.received.length === 2);
    expect(messages(leaving)).toEqual([1]);
    expect(messages(staying)).toEqual([1, 2]);
  });

  it('two instances hear each other', async () => {
    const a = await instance({ url: server.url, keyPrefix: 'shared:' });
    const b = await instance({ url: server.url, keyPrefix: 'shared:' });
    const inA = inbox();
    const inB = inbox();
    await a.pubsub.subscribe('cache-invalidation', inA.handler);
    await b.pubsub.subscribe('cache-invalidation', inB.handler);
    await a.pubsub.publish('cache-invalidation', { from: 'a' });
    await b.pubsub.publish('cache-invalidation', { from: 'b' });
    await inA.waitFor('both messages in a', () => inA.received.length === 2);
    await inB.waitFor('both messages in b', () => inB.received.length === 2);
    expect(messages(inA)).toEqual([{ from: 'a' }, { from: 'b' }]);
    expect(messages(inB)).toEqual([{ from: 'a' }, { from: 'b' }]);
  });

  it('while on the memory fallback, messages are delivered within the instance', async () => {
    const a = await instance({ url: server.url, commandTimeoutMs: 200 });
    const before = inbox();
    await a.pubsub.subscribe('local', before.handler);
    await server.kill();
    try {
      await waitUntil(() => a.connection.status() === 'memory-fallback', { timeoutMs: 10_000, what: 'memory-fallback status' });
      const during = inbox();
      const pattern = inbox();
      await a.pubsub.subscribe('local', during.handler);
      await a.pubsub.psubscribe('lo*', pattern.handler);
      expect(await a.pubsub.publish('local', { offline: true })).toBe(3);
      await before.waitFor('delivery to the subscription made before the outage', () => before.received.length === 1);
      await during.waitFor('delivery to the subscription made during the outage', () => during.received.length === 1);
      await pattern.waitFor('delivery to the pattern subscription', () => pattern.received.length === 1);
      expect(messages(before)).toEqual([{ offline: true }]);
      expect(pattern.received).toEqual([{ message: { offline: true }, channel: 'local', pattern: 'lo*' }]);
    } finally {
      await server.start();
    }
  });

  it('Redis killed and restarted: messages flow again without subscribing again', async () => {
    const a = await instance({ url: server.url, commandTimeoutMs: 200 });
    const b = await instance({ url: server.url, commandTimeoutMs: 200 });
    const box = inbox();
    const patterned = inbox();
    await a.pubsub.subscribe('after-restart', box.handler);
    await a.pubsub.psubscribe('after-*', patterned.handler);
    await b.pubsub.publish('after-restart', 'before');
    await box.waitFor('message before the restart', () => box.received.length === 1);

    await server.kill();
    await server.start();
    await waitUntil(() => a.connection.status() === 'connected' && b.connection.status() === 'connected', { timeoutMs: 15_000, what: 'both instances connected' });
    // The subscriber connection re-subscribes on its own schedule: keep publishing until one arrives.
    let sent = 0;
    await waitUntil(
      async () => {
        await b.pubsub.publish('after-restart', `after-${++sent}`);
        return box.received.length > 1 && patterned.received.length > 1;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'messages after the restart' },
    );
    expect(box.received[0]!.message).toBe('before');
    expect(box.received.at(-1)!.message).toMatch(/^after-\d+$/);
    expect(patterned.received.at(-1)).toMatchObject({ channel: 'after-restart', pattern: 'after-*' });
  });
});

describe('PubSubService on Redis Cluster', () => {
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  });
  afterEach(closeAll);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('two instances exchange messages on channels of every slot, and by pattern', async () => {
    const a = await instance({ cluster: { nodes: cluster.seeds }, keyPrefix: 'cl:' });
    const b = await instance({ cluster: { nodes: cluster.seeds }, keyPrefix: 'cl:' });
    const channels = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const box = inbox();
    const patterned = inbox();
    for (const channel of channels) await a.pubsub.subscribe(channel, box.handler);
    await a.pubsub.psubscribe('*a', patterned.handler);
    for (const [i, channel] of channels.entries()) await b.pubsub.publish(channel, { i });
    await box.waitFor('one message per channel', () => box.received.length === channels.length);
    await patterned.waitFor('messages of channels ending in a', () => patterned.received.length === 4);
    expect(box.received.map((r) => r.channel).sort()).toEqual([...channels].sort());
    expect(box.received.find((r) => r.channel === 'gamma')!.message).toEqual({ i: 2 });
    expect(patterned.received.map((r) => r.channel).sort()).toEqual(['alpha', 'beta', 'delta', 'gamma']);
  });

  it('a throwing handler does not stop delivery on Cluster either', async () => {
    const a = await instance({ cluster: { nodes: cluster.seeds } });
    const box = inbox();
    await a.pubsub.subscribe('ticks', () => {
      throw new Error('boom');
    });
    await a.pubsub.subscribe('ticks', box.handler);
    for (let i = 0; i < 3; i++) await a.pubsub.publish('ticks', i);
    await box.waitFor('three ticks', () => box.received.length === 3);
    // Cluster PUBLISH lands on any node and crosses the cluster bus: order between messages is not kept.
    expect(messages(box).sort()).toEqual([0, 1, 2]);
    expect(a.logger.lines.filter((l) => l.startsWith('error') && l.includes('boom'))).toHaveLength(3);
  });
});
