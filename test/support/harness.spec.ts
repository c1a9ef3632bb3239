import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';

import {
  killAllRedis,
  liveProcessCount,
  RedisStartError,
  startCluster,
  startRedis,
  startSentinelGroup,
  type RedisClusterHandle,
  type RedisProcess,
  type SentinelGroupHandle,
} from './index.js';

// Everything this file started, so the last test can prove teardown left nothing running or on disk.
const dirs: string[] = [];

describe('standalone redis', () => {
  let server: RedisProcess;
  const clients: Redis[] = [];

  beforeAll(async () => {
    server = await startRedis();
    dirs.push(server.dir);
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await server?.destroy();
  });

  it('listens on loopback and serves SET/GET to a client using its url', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const client = new Redis(server.url);
    clients.push(client);
    await client.set('harness:standalone', 'hello');
    expect(await client.get('harness:standalone')).toBe('hello');
    expect(await server.command('GET', 'harness:standalone')).toBe('hello');
  });

  it('comes back on the same port after kill + start', async () => {
    const port = server.port;
    await server.kill();
    expect(server.running).toBe(false);
    await expect(server.command('PING')).rejects.toThrow();
    await server.start();
    expect(server.running).toBe(true);
    expect(server.port).toBe(port);
    expect(await server.command('PING')).toBe('PONG');
    // No persistence configured: a SIGKILLed server comes back empty.
    expect(await server.command('GET', 'harness:standalone')).toBeNull();
  });

  it('stop is graceful and restartable', async () => {
    await server.stop();
    expect(server.running).toBe(false);
    await server.start();
    expect(await server.command('PING')).toBe('PONG');
  });

  it('pause makes commands time out and resume answers again', async () => {
    const client = new Redis({ host: server.host, port: server.port, commandTimeout: 300 });
    clients.push(client);
    await client.set('harness:pause', 'before');
    server.pause();
    try {
      expect(server.paused).toBe(true);
      await expect(client.get('harness:pause')).rejects.toThrow(/timed out/i);
    } finally {
      server.resume();
    }
    expect(server.paused).toBe(false);
    expect(await client.get('harness:pause')).toBe('before');
  });

  it('fails start() with the log tail when its port was taken meanwhile, instead of adopting the other server', async () => {
    const first = await startRedis();
    dirs.push(first.dir);
    await first.kill();
    const squatter = await startRedis({ port: first.port });
    dirs.push(squatter.dir);
    try {
      const failure = first.start();
      await expect(failure).rejects.toBeInstanceOf(RedisStartError);
      await expect(failure).rejects.toThrow(/Address already in use/);
      expect(first.running).toBe(false);
    } finally {
      await first.destroy();
      await squatter.destroy();
    }
  });

  it('supports a password in the url', async () => {
    const secured = await startRedis({ password: 's3cr:t' });
    dirs.push(secured.dir);
    const client = new Redis(secured.url);
    try {
      expect(secured.url).toBe(`redis://:s3cr%3At@127.0.0.1:${secured.port}`);
      await client.set('harness:auth', 'ok');
      expect(await secured.command('GET', 'harness:auth')).toBe('ok');
      const anonymous = new Redis({ port: secured.port, host: secured.host, lazyConnect: true, retryStrategy: () => null });
      anonymous.on('error', () => {});
      try {
        await expect(anonymous.get('harness:auth')).rejects.toThrow(/NOAUTH/);
      } finally {
        anonymous.disconnect();
      }
    } finally {
      client.disconnect();
      await secured.destroy();
    }
  });
});

describe('redis cluster', () => {
  let cluster: RedisClusterHandle;
  let client: Cluster | undefined;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    dirs.push(...cluster.nodes.map((n) => n.dir));
  });

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  /** One key per current master, found by asking the cluster which slot each candidate maps to. */
  async function keyPerMaster(masters: RedisProcess[]): Promise<Map<RedisProcess, string>> {
    const view = await cluster.view();
    const keys = new Map<RedisProcess, string>();
    for (let i = 0; keys.size < masters.length && i < 1000; i++) {
      const key = `harness:cluster:${i}`;
      const slot = Number(await masters[0]!.command('CLUSTER', 'KEYSLOT', key));
      const owner = view.find((e) => e.slots.some(([from, to]) => slot >= from && slot <= to));
      const master = masters.find((m) => m.port === owner?.port);
      if (master !== undefined && !keys.has(master)) keys.set(master, key);
    }
    expect(keys.size).toBe(masters.length);
    return keys;
  }

  it('serves SET/GET on every master, then survives a master failover', async () => {
    expect(cluster.nodes).toHaveLength(6);
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    for (const master of masters) expect(await cluster.replicaOf(master)).toBeDefined();

    client = new Cluster(cluster.seeds, {
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      redisOptions: { connectTimeout: 1_000 },
    });
    const keys = await keyPerMaster(masters);
    for (const [master, key] of keys) {
      await client.set(key, `on-${master.port}`);
      expect(await client.get(key)).toBe(`on-${master.port}`);
      // Proves the key really lives on that master, not just somewhere the client can reach.
      expect(await master.command('GET', key)).toBe(`on-${master.port}`);
      // Replication is async; make sure the replica has it before the master dies.
      expect(await master.command('WAIT', 1, 2_000)).toBe(1);
    }

    const victim = masters[0]!;
    const replica = await cluster.replicaOf(victim);
    await victim.kill();
    const promoted = await cluster.waitForPromotion(victim);
    expect(promoted.port).toBe(replica!.port);
    expect(promoted.port).not.toBe(victim.port);

    for (const [master, key] of keys) {
      if (master === victim) continue;
      expect(await client.get(key)).toBe(`on-${master.port}`);
    }
    const victimKey = keys.get(victim)!;
    expect(await client.get(victimKey)).toBe(`on-${victim.port}`);
    await client.set(victimKey, 'after-failover');
    expect(await promoted.command('GET', victimKey)).toBe('after-failover');

    const mastersAfter = await cluster.masters();
    expect(mastersAfter.map((m) => m.port).sort()).toEqual([promoted, ...masters.slice(1)].map((m) => m.port).sort());

    // The old master rejoins as a replica of the node that replaced it.
    await victim.start();
    await cluster.waitUntilHealthy();
  });
});

describe('sentinel group', () => {
  let group: SentinelGroupHandle;
  let client: Redis | undefined;

  beforeAll(async () => {
    group = await startSentinelGroup();
    dirs.push(group.master.dir, group.replica.dir, ...group.sentinels.map((s) => s.dir));
  });

  afterAll(async () => {
    client?.disconnect();
    await group?.stop();
  });

  it('lets a sentinel client write before and after the master is killed', async () => {
    expect(group.name).toBe('mymaster');
    expect(group.sentinels).toHaveLength(3);
    expect(await group.currentMaster()).toEqual({ host: '127.0.0.1', port: group.master.port });

    client = new Redis({
      sentinels: group.sentinelAddresses,
      name: group.name,
      retryStrategy: (times) => Math.min(times * 100, 1_000),
    });
    // While sentinels still point at the dead master, reconnects fail with "All sentinels are
    // unreachable"; that is the client's normal failover window, not a test failure.
    client.on('error', () => {});
    await client.set('harness:sentinel', 'before');
    expect(await group.master.command('WAIT', 1, 2_000)).toBe(1);

    const oldPort = group.master.port;
    await group.master.kill();
    const next = await group.waitForFailover(oldPort);
    expect(next.port).not.toBe(oldPort);
    expect(next.port).toBe(group.replica.port);
    expect(await group.currentMaster()).toEqual(next);

    await client.set('harness:sentinel:after', 'after');
    expect(await client.get('harness:sentinel')).toBe('before');
    expect(await group.replica.command('GET', 'harness:sentinel:after')).toBe('after');
  });
});

describe('teardown', () => {
  it('leaves no redis process running and no temp dir behind', async () => {
    expect(dirs.length).toBeGreaterThan(10);
    expect(liveProcessCount()).toBe(0);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
    // Safety net for callers: a no-op here, but must not throw when nothing is left.
    await killAllRedis();
  });
});
