import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, Logger, Module, type INestApplicationContext, type LoggerService } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { freePort, startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { redisOptionsFromEnv } from '../../src/config/redis-env.loader.js';
import { RedisConnection } from '../../src/connection/redis.connection.js';
import { getRedisConnectionToken, getRedisToken, getStoreEngineToken, InjectRedis } from '../../src/connection/redis.tokens.js';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import { RedisConfigError } from '../../src/redis.errors.js';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';

const PASSWORD = 'module-spec-secret-9f2c';

class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private push(level: string, message: unknown, rest: unknown[]) {
    this.lines.push(`${level} ${[message, ...rest].map((m) => (m instanceof Error ? `${m.message} ${m.stack}` : typeof m === 'string' ? m : JSON.stringify(m))).join(' ')}`);
  }
  log(message: unknown, ...rest: unknown[]) {
    this.push('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.push('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.push('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.push('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.push('verbose', message, rest);
  }
}

const waitFor = async (condition: () => boolean, timeoutMs = 10_000) => {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

let logger: CapturingLogger;

async function boot(imports: unknown[], providers: unknown[] = []): Promise<INestApplicationContext> {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[], providers: providers as never[] })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  return app;
}

describe('RedisModule', () => {
  let server: RedisProcess;
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    server = await startRedis({ password: PASSWORD });
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(() => {
    logger = new CapturingLogger();
    Logger.overrideLogger(logger);
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    Logger.overrideLogger(false);
    // No log line may ever carry the password, whatever happened in the test.
    expect(logger.lines.join('\n')).not.toContain(PASSWORD);
  });

  it('forRoot connects and exposes the connection, the client and the engine', async () => {
    const app = await boot([RedisModule.forRoot({ url: server.url, keyPrefix: 'mod:' })]);
    apps.push(app);
    const connection = app.get(RedisConnection);
    expect(connection.status()).toBe('connected');
    expect(app.get(getRedisConnectionToken())).toBe(connection);
    const client = app.get<Redis>(getRedisToken());
    expect(client).toBe(connection.client);
    const engine = app.get<StoreEngine>(getStoreEngineToken());
    await engine.set('k', 'v');
    expect(await client.get('mod:k')).toBe('v');
    expect(await connection.ping()).toBeGreaterThanOrEqual(0);
    expect(logger.lines.some((l) => l.startsWith('log Connected to redis://127.0.0.1:'))).toBe(true);
  });

  it('forRootAsync with ConfigService reads the environment', async () => {
    const app = await boot([
      ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(server.port), REDIS_PASSWORD: PASSWORD })] }),
      RedisModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (config: ConfigService) => redisOptionsFromEnv(config) }),
    ]);
    apps.push(app);
    expect(app.get(RedisConnection).status()).toBe('connected');
  });

  it('forRootAsync with useClass and with useExisting', async () => {
    @Injectable()
    class RedisConfig {
      createRedisOptions(): RedisModuleOptions {
        return { url: server.url };
      }
    }
    @Module({ providers: [RedisConfig], exports: [RedisConfig] })
    class RedisConfigModule {}

    const viaClass = await boot([RedisModule.forRootAsync({ useClass: RedisConfig })]);
    apps.push(viaClass);
    expect(viaClass.get(RedisConnection).status()).toBe('connected');

    const viaExisting = await boot([RedisModule.forRootAsync({ imports: [RedisConfigModule], useExisting: RedisConfig })]);
    apps.push(viaExisting);
    expect(viaExisting.get(RedisConnection).status()).toBe('connected');
  });

  it('isGlobal lets feature modules inject without importing; named connections stay apart', async () => {
    @Injectable()
    class Consumer {
      constructor(
        @InjectRedis() readonly main: Redis,
        @InjectRedis('sessions') readonly sessions: Redis,
      ) {}
    }
    @Module({ providers: [Consumer], exports: [Consumer] })
    class FeatureModule {}

    const app = await boot([
      RedisModule.forRoot({ url: server.url, isGlobal: true }),
      RedisModule.forRoot({ url: `${server.url.replace(/\/\d*$/, '')}/1`, name: 'sessions', isGlobal: true }),
      FeatureModule,
    ]);
    apps.push(app);
    const consumer = app.get(Consumer);
    expect(consumer.main).not.toBe(consumer.sessions);
    await consumer.sessions.set('where', 'db1');
    expect(await consumer.main.get('where')).toBeNull();
    expect(app.get<RedisConnection>(getRedisConnectionToken('sessions')).status()).toBe('connected');
  });

  it('closes the client it created, and never one the application passed in', async () => {
    const own = new Redis(server.url);
    const app = await boot([RedisModule.forRoot({ client: own })]);
    expect(app.get(RedisConnection).status()).toBe('connected');
    const created = await boot([RedisModule.forRoot({ url: server.url })]);
    const createdClient = created.get(RedisConnection).client as Redis;
    await app.close();
    await created.close();
    expect(own.status).toBe('ready');
    expect(await own.ping()).toBe('PONG');
    expect(createdClient.status).toBe('end');
    own.disconnect();
  });

  it('boots with Redis down, warns once, and connects when Redis appears', async () => {
    const late = await startRedis();
    await late.stop();
    const app = await boot([RedisModule.forRoot({ url: late.url, connectTimeoutMs: 300 })]);
    apps.push(app);
    const connection = app.get(RedisConnection);
    expect(connection.status()).toBe('memory-fallback');
    // The app serves from memory meanwhile.
    await connection.engine.set('during', 'outage');
    expect(await connection.engine.get('during')).toBe('outage');
    const statuses: string[] = [];
    connection.on('status', (s) => statuses.push(s));
    await new Promise((r) => setTimeout(r, 1_500)); // several reconnect attempts
    expect(logger.lines.filter((l) => l.startsWith('warn'))).toHaveLength(1);
    await late.start();
    await waitFor(() => connection.status() === 'connected');
    expect(statuses).toEqual(['connected']);
    await late.stop();
  });

  it('with fallback none, commands fail fast while Redis is down', async () => {
    const port = await freePort();
    const app = await boot([RedisModule.forRoot({ url: `redis://127.0.0.1:${port}`, fallback: 'none', connectTimeoutMs: 200 })]);
    apps.push(app);
    const connection = app.get(RedisConnection);
    expect(connection.status()).toBe('disconnected');
    const started = Date.now();
    await expect(connection.engine.get('x')).rejects.toMatchObject({ code: 'E_REDIS_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('never logs the password, even when authentication fails', async () => {
    const app = await boot([RedisModule.forRoot({ host: '127.0.0.1', port: server.port, password: `${PASSWORD}-wrong`, connectTimeoutMs: 500 })]);
    apps.push(app);
    expect(app.get(RedisConnection).status()).toBe('memory-fallback');
    expect(logger.lines.join('\n')).not.toContain(`${PASSWORD}-wrong`);
    expect(logger.lines.some((l) => l.startsWith('warn') && /WRONGPASS|NOAUTH|auth/i.test(l))).toBe(true);
  });

  it('stops start-up on bad options with one clear error', async () => {
    await expect(boot([RedisModule.forRoot({ url: `redis://u:${PASSWORD}@host:notaport` })])).rejects.toThrow(RedisConfigError);
    await expect(boot([RedisModule.forRoot({ port: 70_000 })])).rejects.toThrow('Invalid Redis configuration: port must be an integer from 1 to 65535 (got 70000)');
  });
});
