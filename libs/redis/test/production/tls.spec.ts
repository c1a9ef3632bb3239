import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CapturingLogger,
  makeTlsCertificates,
  startTlsCluster,
  startTlsRedis,
  startTlsSentinel,
  type TlsCertificates,
  type TlsClusterHandle,
  type TlsRedisProcess,
  type TlsSentinelHandle,
} from '@nestjs-redis-kit/test-support';
import { redisOptionsFromEnv } from '../../src/config/redis-env.loader.js';
import { REDIS_SENTINEL_ACL_RULE } from '../../src/connection/redis-acl.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisHealthModule } from '../../src/health/redis-health.module.js';
import { RedisHealthIndicator } from '../../src/health/redis.health.js';
import { RedisModule } from '../../src/redis.module.js';

const PASSWORD = 'tls-spec-secret-41ab';

let logger: CapturingLogger;
const opened: TestingModule[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

/** Boots the module the way an app configured by environment does. */
async function bootFromEnv(env: Record<string, string>): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [RedisModule.forRoot({ ...redisOptionsFromEnv(env), connectTimeoutMs: 3_000, keyPrefix: 'tls:' }), RedisHealthModule],
  })
    .setLogger(logger)
    .compile();
  opened.push(moduleRef);
  await moduleRef.init();
  return moduleRef;
}

let certs: TlsCertificates;

/** The TLS variables every test sets: trust the test CA, check the certificate names localhost. */
const trusting = (extra: Record<string, string> = {}) => ({ REDIS_TLS_CA_FILE: certs.caFile, REDIS_TLS_SERVERNAME: 'localhost', ...extra });
const direct = (port: number, extra: Record<string, string> = {}) => trusting({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port), ...extra });
const withClientCert = () => ({ REDIS_TLS_CERT_FILE: certs.clientCertFile, REDIS_TLS_KEY_FILE: certs.clientKeyFile });
const viaSentinel = (group: TlsSentinelHandle, extra: Record<string, string>) =>
  trusting({ REDIS_SENTINELS: `127.0.0.1:${group.sentinel.tlsPort}`, REDIS_SENTINEL_NAME: group.name, REDIS_PASSWORD: PASSWORD, ...extra });

beforeAll(() => {
  certs = makeTlsCertificates();
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});
beforeEach(() => {
  logger = new CapturingLogger();
  Logger.overrideLogger(logger);
  unhandled.length = 0;
});
afterEach(async () => {
  for (const moduleRef of opened.splice(0)) await moduleRef.close();
  Logger.overrideLogger(false);
  expect(logger.lines.join('\n')).not.toContain(PASSWORD);
  expect(unhandled).toEqual([]);
});

describe('TLS to a standalone Redis that listens on TLS only', () => {
  let server: TlsRedisProcess;
  beforeAll(async () => {
    server = await startTlsRedis({ certs, password: PASSWORD });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('connects with the CA from REDIS_TLS_CA_FILE and serves the cache from Redis', async () => {
    const app = await bootFromEnv(direct(server.tlsPort, { REDIS_PASSWORD: PASSWORD }));
    expect(app.get(RedisConnection).status()).toBe('connected');
    const cache = app.get(CacheService);
    await cache.set('greeting', { hello: 'tls' });
    expect(await cache.get('greeting')).toEqual({ hello: 'tls' });
    // The value really went to the TLS server, not to the memory fallback.
    expect(Number(await server.command('DBSIZE'))).toBeGreaterThan(0);
    const health = await app.get(RedisHealthIndicator).isHealthy();
    expect(health.redis.status).toBe('up');
  });

  it('connects with rediss:// and the CA file (host name check against the certificate SAN 127.0.0.1)', async () => {
    const app = await bootFromEnv({ REDIS_URL: `rediss://:${PASSWORD}@127.0.0.1:${server.tlsPort}/0`, REDIS_TLS_CA_FILE: certs.caFile });
    expect(app.get(RedisConnection).status()).toBe('connected');
  });

  it('with a CA that did not sign the server certificate: a clear reason in the log, the memory fallback serves, no crash', async () => {
    await server.command('FLUSHALL');
    const app = await bootFromEnv(direct(server.tlsPort, { REDIS_PASSWORD: PASSWORD, REDIS_TLS_CA_FILE: certs.otherCaFile }));
    const connection = app.get(RedisConnection);
    expect(connection.status()).toBe('memory-fallback');
    const warning = logger.lines.find((line) => line.startsWith('warn') && line.includes('Redis unavailable'));
    // Node's wording for a chain that does not end in a trusted CA.
    expect(warning).toContain("TLS certificate check failed: the server certificate is not signed by a CA this app trusts");
    expect(warning).toContain("REDIS_TLS_CA_FILE");
    
    const cache = app.get(CacheService);
    await cache.set('k', 1);
    expect(await cache.get('k')).toBe(1);
    const health = await app.get(RedisHealthIndicator).isHealthy();
    expect(health.redis).toMatchObject({ status: 'degraded', engine: 'memory' });
    expect(Number(await server.command('DBSIZE'))).toBe(0);
  });

  it('a plain-text client cannot talk to it (no silent downgrade): the fallback serves', async () => {
    const app = await bootFromEnv({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(server.tlsPort), REDIS_PASSWORD: PASSWORD });
    expect(app.get(RedisConnection).status()).toBe('memory-fallback');
  });
});

describe('a server certificate that has expired', () => {
  let server: TlsRedisProcess;
  beforeAll(async () => {
    server = await startTlsRedis({ certs, serverCert: { certFile: certs.expiredServerCertFile, keyFile: certs.expiredServerKeyFile } });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('is refused even though the CA is trusted, with the reason in the log; the fallback serves', async () => {
    const app = await bootFromEnv(direct(server.tlsPort));
    expect(app.get(RedisConnection).status()).toBe('memory-fallback');
    const warning = logger.lines.find((line) => line.startsWith('warn') && line.includes('Redis unavailable'));
    expect(warning).toContain('the server certificate has expired (CERT_HAS_EXPIRED)');
  });
});

describe('mutual TLS (tls-auth-clients yes)', () => {
  let server: TlsRedisProcess;
  beforeAll(async () => {
    server = await startTlsRedis({ certs, requireClientCert: true });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('connects with the client certificate and key from REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE', async () => {
    const app = await bootFromEnv(direct(server.tlsPort, withClientCert()));
    expect(app.get(RedisConnection).status()).toBe('connected');
    const cache = app.get(CacheService);
    await cache.set('mtls', 'yes');
    expect(await cache.get('mtls')).toBe('yes');
  });

  it('without a client certificate, or with one from another CA, the server refuses and the fallback serves', async () => {
    for (const extra of [{}, { REDIS_TLS_CERT_FILE: certs.strangerCertFile, REDIS_TLS_KEY_FILE: certs.strangerKeyFile }] as Array<Record<string, string>>) {
      const app = await bootFromEnv(direct(server.tlsPort, extra));
      expect(app.get(RedisConnection).status()).toBe('memory-fallback');
    }
  });

  it('names the client certificate variables when the refusal arrives as a TLS alert', async () => {
    await bootFromEnv(direct(server.tlsPort));
    const warning = logger.lines.find((line) => line.startsWith('warn') && line.includes('Redis unavailable'));
    // With TLS 1.3 the server checks the client certificate after the client finished its side of the
    // handshake: depending on timing the client reads the alert, or only sees the socket reset.
    expect(warning).toMatch(/REDIS_TLS_CERT_FILE|ECONNRESET/);
  });
});

describe('Sentinel over TLS (sentinel and master both TLS-only, sentinel monitors with tls-replication)', () => {
  let group: TlsSentinelHandle;
  beforeAll(async () => {
    group = await startTlsSentinel(certs, { password: PASSWORD, sentinelPassword: `${PASSWORD}-sentinel` });
  });
  afterAll(async () => {
    await group?.stop();
  });

  it('discovers the master through a TLS sentinel with REDIS_SENTINEL_PASSWORD and writes to it over TLS', async () => {
    const app = await bootFromEnv(viaSentinel(group, { REDIS_SENTINEL_PASSWORD: `${PASSWORD}-sentinel` }));
    expect(app.get(RedisConnection).status()).toBe('connected');
    const cache = app.get(CacheService);
    await cache.set('via-sentinel', 42);
    expect(await cache.get('via-sentinel')).toBe(42);
    expect(Number(await group.master.command('DBSIZE'))).toBeGreaterThan(0);
    const health = await app.get(RedisHealthIndicator).isHealthy();
    expect(health.redis).toMatchObject({ status: 'up', mode: 'sentinel', role: 'master' });
  });

  it('a wrong sentinel password leaves the app on the memory fallback, without the password in any log', async () => {
    const app = await bootFromEnv(viaSentinel(group, { REDIS_SENTINEL_PASSWORD: `${PASSWORD}-wrong` }));
    expect(app.get(RedisConnection).status()).toBe('memory-fallback');
  });
});

describe('Redis Cluster over TLS (tls-cluster yes: client links and the cluster bus)', () => {
  let cluster: TlsClusterHandle;
  beforeAll(async () => {
    cluster = await startTlsCluster(certs);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('discovers the slots over TLS and serves keys on every master', async () => {
    const app = await bootFromEnv(trusting({ REDIS_CLUSTER_NODES: `127.0.0.1:${cluster.nodes[0]!.tlsPort}`, ...withClientCert() }));
    expect(app.get(RedisConnection).status()).toBe('connected');
    const cache = app.get(CacheService);
    for (let i = 0; i < 30; i++) await cache.set(`k${i}`, i);
    for (let i = 0; i < 30; i++) expect(await cache.get(`k${i}`)).toBe(i);
    const sizes = await Promise.all(cluster.nodes.map(async (n) => Number(await n.command('DBSIZE'))));
    expect(sizes.every((n) => n > 0)).toBe(true);
    const health = await app.get(RedisHealthIndicator).isHealthy();
    expect(health.redis).toMatchObject({ status: 'up', mode: 'cluster', clusterState: 'ok', masters: 3, mastersAnswering: 3 });
  });
});

describe('Sentinel with an ACL user for the sentinels (REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD)', () => {
  let group: TlsSentinelHandle;
  beforeAll(async () => {
    group = await startTlsSentinel(certs, { password: PASSWORD, sentinelPassword: `${PASSWORD}-admin`, sentinelUser: { name: 'sentinel-app', password: `${PASSWORD}-s`, rule: REDIS_SENTINEL_ACL_RULE } });
  });
  afterAll(async () => {
    await group?.stop();
  });

  it('discovers the master as a least-privilege sentinel user', async () => {
    const app = await bootFromEnv(viaSentinel(group, { REDIS_SENTINEL_USERNAME: 'sentinel-app', REDIS_SENTINEL_PASSWORD: `${PASSWORD}-s` }));
    expect(app.get(RedisConnection).status()).toBe('connected');
    await app.get(CacheService).set('acl-sentinel', 1);
    expect(await app.get(CacheService).get('acl-sentinel')).toBe(1);
    // The sentinel refused nothing the client asked for (ACL LOG read as the admin, the default user).
    const refused = (await group.sentinel.command('ACL', 'LOG')) as unknown[];
    expect(refused).toEqual([]);
  });
});
