import { afterEach, describe, expect, it } from '@jest/globals';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PresenceService } from '../../src/presence/presence.service.js';
import { RedisConfigError } from '../../src/redis.errors.js';
import { RedisModule } from '../../src/redis.module.js';
import type { RedisModuleOptions } from '../../src/redis.options.js';

async function app(options: RedisModuleOptions): Promise<INestApplicationContext> {
  @Module({ imports: [RedisModule.forRoot(options)] })
  class AppModule {}
  return NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
}

describe('PresenceService from RedisModule.forRoot', () => {
  const open: INestApplicationContext[] = [];
  afterEach(async () => {
    for (const a of open.splice(0)) await a.close();
  });

  it('is provided on the embedded store (no Redis configured), heartbeat running, and stops with the app', async () => {
    const context = await app({ presence: { ttl: '1s', heartbeat: '100ms' } });
    open.push(context);
    const presence = context.get(PresenceService);
    await presence.connect('alice', 's1');
    await presence.join('s1', 'lobby');
    await presence.setStatus('alice', 'available');
    // Several ttls later, still there: the module started the heartbeat.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await presence.onlineUsers('lobby')).toEqual(['alice']);
    expect(await presence.status('alice')).toBe('available');
  });

  it.each([
    [{ ttl: '10s', heartbeat: '10s' }, /presence\.heartbeat \(10000 ms\) must be shorter than presence\.ttl \(10000 ms\)/],
    [{ ttl: '5s', heartbeat: '1m' }, /presence\.heartbeat \(60000 ms\) must be shorter than presence\.ttl \(5000 ms\)/],
    [{ heartbeat: '45s' }, /must be shorter than presence\.ttl \(30000 ms\)/],
    [{ ttl: 'soon' }, /presence\.ttl must be milliseconds or a string like/],
    [{ ttl: 50, heartbeat: 10 }, /presence\.ttl must be at least 100 ms/],
  ])('refuses to start with presence %j', async (presence, message) => {
    const failure = await app({ presence }).then(
      (context) => {
        open.push(context);
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(RedisConfigError);
    expect(String((failure as Error).message)).toMatch(message);
  });
});
