// One minimal Nest 12 + Express app per variant (plain ESM, decorators applied by hand).
// Env: VARIANT (none | ours | throttler-memory | throttler-redis | rlf-redis), POLICIES (1 | 3),
// REDIS_URL. Prints "READY <port>". Every limiter gets the same policies, with limits so high
// that nothing is refused: the bench measures the cost of deciding, like the anchor bench.
import 'reflect-metadata';
import { Controller, Get, HttpException, Module } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';

const variant = process.env.VARIANT ?? 'none';
const policyCount = Number(process.env.POLICIES ?? 1);
const redisUrl = process.env.REDIS_URL;
const BIG = 1_000_000_000;
const POLICIES = [
  { name: 'minute', ttl: 60_000 },
  { name: 'second', ttl: 1_000 },
  { name: 'hour', ttl: 3_600_000 },
].slice(0, policyCount);

class AppController {
  hello() {
    return { ok: true, message: 'hello', n: 42 };
  }
}
Controller()(AppController);
Get()(AppController.prototype, 'hello', Object.getOwnPropertyDescriptor(AppController.prototype, 'hello'));

const imports = [];
const providers = [];

if (variant === 'ours') {
  const { RedisModule, RateLimitGuard } = await import('nestjs-redis-kit');
  imports.push(
    RedisModule.forRoot({
      url: redisUrl,
      keyPrefix: 'bench:',
      rateLimit: { defaults: POLICIES.map((p) => ({ name: p.name, limit: BIG, window: p.ttl, by: 'ip' })) },
    }),
  );
  providers.push({ provide: APP_GUARD, useExisting: RateLimitGuard });
} else if (variant === 'throttler-memory' || variant === 'throttler-redis') {
  const { ThrottlerModule, ThrottlerGuard } = await import('@nestjs/throttler');
  const throttlers = POLICIES.map((p) => ({ name: p.name, ttl: p.ttl, limit: BIG }));
  let storage;
  if (variant === 'throttler-redis') {
    const { ThrottlerStorageRedisService } = await import('@nest-lab/throttler-storage-redis');
    const { Redis } = await import('ioredis');
    storage = new ThrottlerStorageRedisService(new Redis(redisUrl));
  }
  imports.push(ThrottlerModule.forRoot(storage ? { throttlers, storage } : throttlers));
  providers.push({ provide: APP_GUARD, useClass: ThrottlerGuard });
} else if (variant === 'rlf-redis') {
  const { RateLimiterRedis, RateLimiterUnion } = await import('rate-limiter-flexible');
  const { Redis } = await import('ioredis');
  const client = new Redis(redisUrl, { enableOfflineQueue: false });
  await new Promise((resolve) => client.once('ready', resolve));
  const limiters = POLICIES.map((p) => new RateLimiterRedis({ storeClient: client, keyPrefix: `rlf-${p.name}`, points: BIG, duration: p.ttl / 1000 }));
  const limiter = limiters.length === 1 ? limiters[0] : new RateLimiterUnion(...limiters);
  providers.push({
    provide: APP_GUARD,
    useValue: {
      async canActivate(context) {
        const req = context.switchToHttp().getRequest();
        try {
          await limiter.consume(req.ip);
          return true;
        } catch (rejection) {
          if (rejection instanceof Error) throw rejection;
          throw new HttpException('Too Many Requests', 429);
        }
      },
    },
  });
} else if (variant !== 'none') {
  throw new Error(`unknown VARIANT ${variant}`);
}

class AppModule {}
Module({ imports, controllers: [AppController], providers })(AppModule);

const app = await NestFactory.create(AppModule, { logger: ['error'] });
app.enableShutdownHooks();
await app.listen(0, '127.0.0.1');
process.stdout.write(`READY ${app.getHttpServer().address().port}\n`);
