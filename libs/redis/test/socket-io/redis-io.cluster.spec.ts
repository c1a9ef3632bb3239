import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startCluster, waitUntil, type RedisClusterHandle } from '@nestjs-redis-kit/test-support';
import { closeClients, connect, startInstance, type IoInstance } from './socket-io.fixture.js';

describe('RedisIoAdapter on Redis Cluster (sharded pub/sub): two instances', () => {
  let cluster: RedisClusterHandle;
  let a: IoInstance;
  let b: IoInstance;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    const options = { cluster: { nodes: cluster.seeds }, keyPrefix: 'io-cluster:' };
    a = await startInstance(options, { authenticate: true });
    b = await startInstance(options, { authenticate: true });
  }, 120_000);

  afterEach(() => closeClients());

  afterAll(async () => {
    closeClients();
    await a?.close();
    await b?.close();
    await cluster?.stop();
  });

  it('a broadcast on A reaches a client on B, a room message too, and a revocation on B disconnects the socket on A', async () => {
    const { sessionId } = await a.sessions.create({ userId: 'kim' });
    const onB = await connect(b.url, { token: sessionId });
    const onA = await connect(a.url, { token: sessionId });
    let n = 0;
    await waitUntil(
      () => {
        a.gateway.server.emit('news', `probe-${++n}`);
        return onB.received('news').length > 0;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'a broadcast from A reaching a client of B' },
    );
    await waitUntil(
      () => {
        b.gateway.server.to('user:kim').emit('dm', 'for kim');
        return onA.received('dm').length > 0;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'a room message from B reaching a client of A' },
    );
    // The sharded channels live on the cluster's shards, named after the key prefix.
    const masters = await cluster.masters();
    const channels = (await Promise.all(masters.map((m) => m.command('PUBSUB', 'SHARDCHANNELS', '*')))).flat() as string[];
    expect(channels.some((c) => c.startsWith('io-cluster:socket.io#/#'))).toBe(true);

    // Requests that wait for every instance's answer (here fetchSockets) work on sharded pub/sub too.
    const found = await a.gateway.server.in('user:kim').fetchSockets();
    expect(found.map((s) => s.id).sort()).toEqual([onA.socket.id, onB.socket.id].sort());

    await b.sessions.revokeAll('kim');
    await waitUntil(() => !onA.socket.connected && !onB.socket.connected, { timeoutMs: 5_000, what: "kim's sockets disconnected on both instances" });
  });
});
