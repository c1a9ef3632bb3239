import type { Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getStoreEngineToken, REDIS_MODULE_OPTIONS } from '../connection/redis.tokens.js';
import { getRedisMetricsToken, type RedisMetrics } from '../metrics/redis-metrics.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { RedisConfigError } from '../redis.errors.js';
import type { SessionOptions } from './session.options.js';
import { SessionService } from './session.service.js';
import { TokenDenylist } from './token-denylist.service.js';

/** The part of the module's options the session providers read. */
interface SessionSection {
  session?: SessionOptions;
}

/**
 * The engine is looked up when first needed (at the latest in onModuleInit), not injected: with
 * `forRootAsync` the connection named in `session.connection` is only known once options resolve.
 */
function engineSource(options: SessionSection, moduleRef: ModuleRef, defaultName: string): () => StoreEngine {
  return () => {
    const name = options?.session?.connection ?? defaultName;
    try {
      return moduleRef.get<StoreEngine>(getStoreEngineToken(name), { strict: false });
    } catch {
      throw new RedisConfigError([
        `session.connection "${name}" names no RedisModule connection; register RedisModule.forRoot({ name: '${name}', isGlobal: true, ... })`,
      ]);
    }
  };
}

/** SessionService and TokenDenylist for the connection `name` (the module registers them for the default one). */
export function sessionProviders(name: string): Provider[] {
  return [
    {
      provide: SessionService,
      useFactory: (options: SessionSection, moduleRef: ModuleRef, metrics: RedisMetrics) => {
        const service = new SessionService(engineSource(options, moduleRef, name), options?.session);
        // Read at scrape time (the exporter bounds it): active sessions are a fact of the store,
        // counted from the live sets the scripts keep (one ZCOUNT per group, never a SCAN).
        metrics.observeActiveSessions(() => service.activeSessions());
        service.onReuseDetected(() => metrics.refreshTokenReused());
        return service;
      },
      inject: [REDIS_MODULE_OPTIONS, ModuleRef, getRedisMetricsToken(name)],
    },
    {
      provide: TokenDenylist,
      useFactory: (options: SessionSection, moduleRef: ModuleRef) => new TokenDenylist(engineSource(options, moduleRef, name), options?.session),
      inject: [REDIS_MODULE_OPTIONS, ModuleRef],
    },
  ];
}
