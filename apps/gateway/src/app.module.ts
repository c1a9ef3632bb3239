import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';
import { RateLimitGuard, RedisModule, redisOptionsFromEnv, type RedisModuleOptions } from 'nestjs-redis-kit';
import { HealthModule } from './health/health.module.js';
import { ProxyModule } from './proxy/proxy.module.js';
import { StatusController } from './status.controller.js';
import { StatusPageModule } from './status-page/status-page.module.js';
import { upstreamProviders } from './upstream.config.js';

function intFrom(config: ConfigService, name: string, fallback: number, min: number): number {
  const raw = config.get<string>(name)?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

/**
 * The gateway's rate limits: GATEWAY_RATE_LIMIT requests per minute for every route (per user when
 * the session is valid, else per address), plus the login policy on its handler. Behind a load
 * balancer set GATEWAY_TRUST_PROXY to the number of proxies that append to X-Forwarded-For.
 */
export function gatewayRedisOptions(config: ConfigService): RedisModuleOptions {
  return {
    ...redisOptionsFromEnv(config),
    rateLimit: {
      defaults: [{ limit: intFrom(config, 'GATEWAY_RATE_LIMIT', 300, 1), window: '1m', name: 'api', by: 'user-or-ip' }],
      trustProxy: intFrom(config, 'GATEWAY_TRUST_PROXY', 0, 0),
    },
  };
}

@Module({
  imports: [
    // Under jest the tests own the environment: a developer's .env must not point them at a Redis.
    ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: process.env.NODE_ENV === 'test' }),
    RedisModule.forRootAsync({ isGlobal: true, inject: [ConfigService], useFactory: gatewayRedisOptions }),
    HealthModule,
    ProxyModule,
    StatusPageModule,
  ],
  controllers: [StatusController],
  providers: [...upstreamProviders, { provide: APP_GUARD, useExisting: RateLimitGuard }],
})
export class AppModule {}
