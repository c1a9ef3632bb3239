import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import 'reflect-metadata';
import { Controller, Module, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, MessagePattern, Payload, Transport, type ClientProxy, type MicroserviceOptions } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { RateLimit, RedisModule } from 'nestjs-redis-kit';
import { RpcRateLimitGuard } from 'nestjs-redis-kit/microservices';
import { freePort, startCluster, type RedisClusterHandle } from '@nestjs-redis-kit/test-support';

let handled = 0;

@Controller()
@UseGuards(RpcRateLimitGuard)
class ReportsController {
  @MessagePattern('report')
  @RateLimit({ limit: 2, window: '1m', name: 'report' })
  report(@Payload() data: { user?: { id: string } }) {
    handled++;
    return { ok: true, user: data.user?.id ?? null };
  }

  @MessagePattern('export')
  @RateLimit({ limit: 1, window: '1m', name: 'export', by: (ctx) => String(ctx.switchToRpc().getData<{ tenant: string }>().tenant) })
  export() {
    handled++;
    return { ok: true };
  }
}

async function call(client: ClientProxy, pattern: string, data: unknown): Promise<{ ok: true; value: unknown } | { ok: false; error: Record<string, unknown> }> {
  try {
    return { ok: true, value: await firstValueFrom(client.send(pattern, data)) };
  } catch (error) {
    return { ok: false, error: error as Record<string, unknown> };
  }
}

describe('RpcRateLimitGuard over a real TCP microservice and ClientProxy, on Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  let app: INestApplication;
  let client: ClientProxy;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    const port = await freePort();
    @Module({
      imports: [RedisModule.forRoot({ cluster: { nodes: cluster.seeds }, keyPrefix: 'rpc-rl:', rateLimit: { message: (r) => ({ code: 'SLOW_DOWN', policy: r.policy, retryAfter: r.retryAfter }) } })],
      controllers: [ReportsController],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false });
    app.connectMicroservice<MicroserviceOptions>({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await app.startAllMicroservices();
    await app.init();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await client.connect();
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await cluster?.stop();
  });

  it('admits up to the limit per user in the payload, then the call errors with the RpcException body; the handler does not run', async () => {
    const before = handled;
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await call(client, 'report', { user: { id: 'u1' } }));
    expect(results.slice(0, 2)).toEqual([
      { ok: true, value: { ok: true, user: 'u1' } },
      { ok: true, value: { ok: true, user: 'u1' } },
    ]);
    for (const r of results.slice(2)) {
      expect(r.ok).toBe(false);
      // rateLimit.message as a function returning the whole body.
      expect((r as { error: Record<string, unknown> }).error).toMatchObject({ code: 'SLOW_DOWN', policy: 'report' });
      expect((r as unknown as { error: { retryAfter: number } }).error.retryAfter).toBeGreaterThan(0);
    }
    expect(handled - before).toBe(2);
    expect(await call(client, 'report', { user: { id: 'u2' } })).toEqual({ ok: true, value: { ok: true, user: 'u2' } });
  });

  it('by(ctx) reads the subject from the payload', async () => {
    expect((await call(client, 'export', { tenant: 't1' })).ok).toBe(true);
    expect((await call(client, 'export', { tenant: 't1' })).ok).toBe(false);
    expect((await call(client, 'export', { tenant: 't2' })).ok).toBe(true);
  });
});
