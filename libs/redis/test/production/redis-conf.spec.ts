import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { freePort, makeTempDir, parseInfo, startRedisProcess, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { CacheService } from '../../src/cache/cache.service.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { RedisHealthModule } from '../../src/health/redis-health.module.js';
import { RedisHealthIndicator } from '../../src/health/redis.health.js';
import { RedisModule } from '../../src/redis.module.js';
import { SessionService } from '../../src/session/session.service.js';

const ROOT = join(import.meta.dirname, '../../../..');
const CONF = join(ROOT, 'deploy/redis/redis.conf');
const PASSWORD = 'conf-spec-secret-5a0e';
const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

describe('deploy/redis/redis.conf', () => {
  let server: RedisProcess;
  beforeAll(async () => {
    const dir = makeTempDir('redis-conf');
    const port = await freePort();
    // What compose does (file + --requirepass), with port, bind, dir and log moved for a test machine.
    server = await startRedisProcess({
      binary: 'redis-server',
      args: [CONF, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', join(dir, 'redis.log'), '--daemonize', 'no', '--requirepass', PASSWORD],
      port,
      dir,
      password: PASSWORD,
    });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('starts redis-server, which answers with the limits, policy and persistence the file sets', async () => {
    expect(await server.command('PING')).toBe('PONG');
    const info = parseInfo(await server.command('INFO', 'memory', 'persistence'));
    expect(info.get('maxmemory')).toBe(String(256 * 1024 * 1024));
    expect(info.get('maxmemory_policy')).toBe('noeviction');
    expect(info.get('aof_enabled')).toBe('1');
  });

  it('disables FLUSHALL, FLUSHDB, KEYS, CONFIG and DEBUG', async () => {
    for (const command of [['FLUSHALL'], ['FLUSHDB'], ['KEYS', '*'], ['CONFIG', 'GET', 'maxmemory'], ['DEBUG', 'SLEEP', '0']]) {
      await expect(server.command(...command)).rejects.toThrow(/unknown command/i);
    }
  });

  it('serves every capability of the library (it needs none of the disabled commands)', async () => {
    const moduleRef: TestingModule = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ url: `redis://:${PASSWORD}@127.0.0.1:${server.port}`, keyPrefix: 'conf:' }), RedisHealthModule],
    })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
    try {
      expect(moduleRef.get(RedisConnection).status()).toBe('connected');
      const sessions = moduleRef.get(SessionService);
      const { sessionId } = await sessions.create({ userId: 'u1' });
      expect(await sessions.validate(sessionId)).toMatchObject({ userId: 'u1' });
      const cache = moduleRef.get(CacheService);
      await cache.set('a:1', 1, { tags: ['t'] });
      await cache.invalidatePattern('a:*');
      expect(await cache.get('a:1')).toBeUndefined();
      await cache.clear();
      const health = await moduleRef.get(RedisHealthIndicator).isHealthy();
      expect(health.redis).toMatchObject({ status: 'up', maxMemoryBytes: 256 * 1024 * 1024 });
    } finally {
      await moduleRef.close();
    }
  });

  it('says why for every setting: each block of directives follows a comment', () => {
    const lines = readFileSync(CONF, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '' || line.startsWith('#')) return;
      let j = i - 1;
      while (j >= 0 && lines[j]!.trim() !== '' && !lines[j]!.startsWith('#')) j--;
      expect({ line, commented: j >= 0 && lines[j]!.startsWith('#') }).toEqual({ line, commented: true });
    });
  });

  it('is mounted by docker-compose.redis.yml, which keeps its password and healthcheck and still validates', () => {
    const compose = readFileSync(join(ROOT, 'docker-compose.redis.yml'), 'utf8');
    expect(compose).toContain('./deploy/redis/redis.conf:/usr/local/etc/redis/redis.conf:ro');
    expect(compose).toMatch(/"redis-server", "\/usr\/local\/etc\/redis\/redis.conf", "--requirepass", "\$\{REDIS_PASSWORD:\?set REDIS_PASSWORD\}"/);
    expect(compose).toContain('healthcheck:');
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.redis.yml', 'config', '-q'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, REDIS_PASSWORD: 'ci-only', GATEWAY_SHARED_SECRET: 'ci-only-shared-secret' },
    });
    if (result.error) throw new Error(`docker-compose could not be run (${result.error.message}); .ci/run installs it with apt-get`);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
