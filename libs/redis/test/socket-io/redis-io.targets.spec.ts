import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync } from 'node:fs';
import type { RedisModuleOptions } from 'nestjs-redis-kit';
import {
  makeTlsCertificates,
  startSentinelGroup,
  startTlsRedis,
  waitUntil,
  type SentinelGroupHandle,
  type TlsCertificates,
  type TlsRedisProcess,
} from '@nestjs-redis-kit/test-support';
import { closeClients, connect, startInstance, type IoInstance } from './socket-io.fixture.js';

const instances: IoInstance[] = [];

/** Two instances on `options`; resolves once a broadcast on A reaches a client of B (and back). */
async function crossDelivery(options: RedisModuleOptions): Promise<void> {
  const a = await startInstance(options, { authenticate: true });
  const b = await startInstance(options, { authenticate: true });
  instances.push(a, b);
  const { sessionId } = await a.sessions.create({ userId: 'lena' });
  const onA = await connect(a.url, { token: sessionId });
  const onB = await connect(b.url, { token: sessionId });
  for (const [from, to] of [[a, onB], [b, onA]] as const) {
    let n = 0;
    await waitUntil(
      () => {
        from.gateway.server.emit('news', ++n);
        return to.received('news').length > 0;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: 'a broadcast reaching a client of the other instance' },
    );
  }
  // A revocation on one instance still reaches the other.
  await b.sessions.revoke(sessionId);
  await waitUntil(() => !onA.socket.connected && !onB.socket.connected, { timeoutMs: 5_000, what: 'the revoked session disconnected on both instances' });
}

afterEach(async () => {
  closeClients();
  for (const i of instances.splice(0)) await i.close();
});

describe('RedisIoAdapter on TLS with a password', () => {
  let certs: TlsCertificates;
  let server: TlsRedisProcess;
  const PASSWORD = 'io-tls-secret';
  beforeAll(async () => {
    certs = makeTlsCertificates();
    server = await startTlsRedis({ certs, password: PASSWORD });
  });
  afterAll(async () => {
    await server?.destroy();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  it("delivers across instances on connections derived from the module's (TLS, password)", async () => {
    await crossDelivery({ host: '127.0.0.1', port: server.tlsPort, password: PASSWORD, tls: { ca: readFileSync(certs.caFile), servername: 'localhost' }, keyPrefix: 'io-tls:' });
  });

  it('its channels on the TLS server carry the key prefix', async () => {
    const a = await startInstance({ host: '127.0.0.1', port: server.tlsPort, password: PASSWORD, tls: { ca: readFileSync(certs.caFile), servername: 'localhost' }, keyPrefix: 'io-tls:' });
    instances.push(a);
    await waitUntil(async () => ((await server.command('PUBSUB', 'NUMPAT')) as number) > 0, { timeoutMs: 10_000, what: 'the adapter subscribed' });
    const channels = (await server.command('PUBSUB', 'CHANNELS', '*')) as string[];
    expect(channels.some((c) => c.startsWith('io-tls:socket.io-request#/#'))).toBe(true);
    expect(channels.filter((c) => c.includes('socket.io') && !c.startsWith('io-tls:'))).toEqual([]);
  });
});

describe('RedisIoAdapter on Sentinel', () => {
  let group: SentinelGroupHandle;
  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 60_000);
  afterAll(async () => {
    await group?.stop();
  });

  it('delivers across instances through the master the sentinels name', async () => {
    await crossDelivery({ sentinel: { name: group.name, sentinels: group.sentinelAddresses }, keyPrefix: 'io-sentinel:' });
  });
});
