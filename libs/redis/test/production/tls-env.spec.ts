import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { makeTlsCertificates, type TlsCertificates } from '@nestjs-redis-kit/test-support';
import { redisOptionsFromEnv, REDIS_ENV_VARIABLES } from '../../src/config/redis-env.loader.js';
import { RedisConfigError } from '../../src/redis.errors.js';

const SECRET = 'sentinel-secret-never-logged';

function problem(env: Record<string, string>): string {
  try {
    redisOptionsFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(RedisConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain(SECRET);
    return message;
  }
  throw new Error('expected a configuration error');
}

describe('TLS and sentinel ACL variables', () => {
  let certs: TlsCertificates;
  let scratch: string;
  const base = { REDIS_HOST: '127.0.0.1', REDIS_PORT: '6380' };
  beforeAll(() => {
    certs = makeTlsCertificates();
    scratch = mkdtempSync(join(tmpdir(), 'tls-env-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('are listed with the other variables', () => {
    for (const name of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE', 'REDIS_TLS_SERVERNAME', 'REDIS_TLS_REJECT_UNAUTHORIZED', 'REDIS_TLS_ALLOW_INSECURE', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD']) {
      expect(REDIS_ENV_VARIABLES).toContain(name);
    }
  });

  it('read the CA, client certificate and key into TLS options (TLS on without REDIS_TLS)', () => {
    const options = redisOptionsFromEnv({ ...base, REDIS_TLS_CA_FILE: certs.caFile, REDIS_TLS_CERT_FILE: certs.clientCertFile, REDIS_TLS_KEY_FILE: certs.clientKeyFile, REDIS_TLS_SERVERNAME: 'redis.internal' });
    const tls = options.tls as { ca: Buffer; cert: Buffer; key: Buffer; servername: string; rejectUnauthorized?: boolean };
    expect(tls.ca.toString()).toContain('BEGIN CERTIFICATE');
    expect(tls.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(tls.key.toString()).toContain('PRIVATE KEY');
    expect(tls.servername).toBe('redis.internal');
    expect(tls.rejectUnauthorized).toBeUndefined();
  });

  it('name a missing or unreadable file and the variable', () => {
    expect(problem({ ...base, REDIS_TLS_CA_FILE: '/nowhere/ca.pem' })).toBe('Invalid Redis configuration: REDIS_TLS_CA_FILE names a file that does not exist: "/nowhere/ca.pem"');
    expect(problem({ ...base, REDIS_TLS_CA_FILE: scratch })).toContain('REDIS_TLS_CA_FILE names a file that is a directory');
    const notPem = join(scratch, 'key.txt');
    writeFileSync(notPem, 'hello');
    expect(problem({ ...base, REDIS_TLS_CA_FILE: certs.caFile, REDIS_TLS_CERT_FILE: notPem, REDIS_TLS_KEY_FILE: certs.clientKeyFile })).toContain('REDIS_TLS_CERT_FILE');
    expect(problem({ ...base, REDIS_TLS_CA_FILE: certs.caFile, REDIS_TLS_CERT_FILE: certs.clientCertFile, REDIS_TLS_KEY_FILE: certs.clientCertFile })).toContain('REDIS_TLS_KEY_FILE');
    if (process.getuid?.() !== 0) {
      const locked = join(scratch, 'locked.pem');
      writeFileSync(locked, 'x');
      chmodSync(locked, 0o000);
      expect(problem({ ...base, REDIS_TLS_CA_FILE: locked })).toContain('REDIS_TLS_CA_FILE names a file that is not readable by this process');
    }
  });

  it('never echo the content of a key file', () => {
    const message = problem({ ...base, REDIS_TLS_CA_FILE: certs.clientKeyFile });
    expect(message).toContain('REDIS_TLS_CA_FILE');
    expect(message).not.toContain('PRIVATE KEY');
  });

  it('need a certificate and its key together, and contradict REDIS_TLS=false', () => {
    expect(problem({ ...base, REDIS_TLS_CERT_FILE: certs.clientCertFile })).toContain('REDIS_TLS_CERT_FILE is set but REDIS_TLS_KEY_FILE is missing');
    expect(problem({ ...base, REDIS_TLS_KEY_FILE: certs.clientKeyFile })).toContain('REDIS_TLS_KEY_FILE is set but REDIS_TLS_CERT_FILE is missing');
    expect(problem({ ...base, REDIS_TLS: 'false', REDIS_TLS_CA_FILE: certs.caFile })).toContain('REDIS_TLS is false but REDIS_TLS_CA_FILE is set');
    expect(problem({ ...base, REDIS_TLS_SERVERNAME: 'bad name' })).toContain('REDIS_TLS_SERVERNAME must be a DNS host name');
    expect(problem({ ...base, REDIS_TLS_REJECT_UNAUTHORIZED: 'maybe' })).toContain('REDIS_TLS_REJECT_UNAUTHORIZED must be true or false');
  });

  it('refuse REDIS_TLS_REJECT_UNAUTHORIZED=false outside development unless forced, and warn when it is used', () => {
    expect(problem({ ...base, REDIS_TLS_REJECT_UNAUTHORIZED: 'false' })).toContain('REDIS_TLS_REJECT_UNAUTHORIZED=false turns off the server certificate check');
    expect(problem({ ...base, REDIS_TLS_REJECT_UNAUTHORIZED: 'false', NODE_ENV: 'production' })).toContain('REDIS_TLS_ALLOW_INSECURE=true');
    const warnings: string[] = [];
    Logger.overrideLogger({ log() {}, error() {}, warn: (m: unknown) => warnings.push(String(m)), debug() {}, verbose() {} });
    try {
      expect(redisOptionsFromEnv({ ...base, REDIS_TLS_REJECT_UNAUTHORIZED: 'false', NODE_ENV: 'development' }).tls).toEqual({ rejectUnauthorized: false });
      expect(redisOptionsFromEnv({ ...base, REDIS_TLS_REJECT_UNAUTHORIZED: 'false', REDIS_TLS_ALLOW_INSECURE: 'true' }).tls).toEqual({ rejectUnauthorized: false });
    } finally {
      Logger.overrideLogger(false);
    }
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('NOT verified');
    expect(redisOptionsFromEnv({ ...base, REDIS_TLS_REJECT_UNAUTHORIZED: 'true' }).tls).toEqual({});
    expect(problem({ ...base, REDIS_TLS_ALLOW_INSECURE: 'true' })).toContain('REDIS_TLS_ALLOW_INSECURE is set but REDIS_TLS_REJECT_UNAUTHORIZED is not');
  });

  it('read the sentinel login, only together with REDIS_SENTINELS, never echoing the password', () => {
    expect(redisOptionsFromEnv({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_USERNAME: 'sentinel-app', REDIS_SENTINEL_PASSWORD: SECRET }).sentinel).toEqual({
      name: 'mymaster',
      sentinels: [{ host: '127.0.0.1', port: 26379 }],
      sentinelUsername: 'sentinel-app',
      sentinelPassword: SECRET,
    });
    expect(problem({ ...base, REDIS_SENTINEL_PASSWORD: SECRET })).toContain('REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is missing');
    expect(problem({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm', REDIS_SENTINEL_USERNAME: 'has space' })).toContain('REDIS_SENTINEL_USERNAME must not contain spaces');
  });
});
