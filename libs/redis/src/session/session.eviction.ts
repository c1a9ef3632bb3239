import { type OnApplicationBootstrap, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { evictionWatchOf, watchEviction, type EvictionCheckMode, type EvictionWatch } from '../connection/eviction.watch.js';
import { RedisConnection } from '../connection/redis.connection.js';
import { getRedisConnectionToken, REDIS_MODULE_OPTIONS } from '../connection/redis.tokens.js';
import { RedisConfigError } from '../redis.errors.js';
import type { SessionOptions } from './session.options.js';

const MODES: readonly EvictionCheckMode[] = ['warn', 'refuse', 'off'];

/**
 * Checks that the connection sessions and the deny-list live on (`session.connection`, default the
 * module's own) cannot evict them: at start-up (with `session.evictionCheck: 'refuse'` an evicting
 * policy stops the application), whenever that connection comes back, and on every health probe
 * (the `evictionRisk` health field).
 */
export class SessionEvictionCheck implements OnApplicationBootstrap, OnApplicationShutdown {
  private watch?: EvictionWatch;
  private off?: () => void;

  constructor(
    private readonly options: { session?: SessionOptions } | undefined,
    private readonly moduleRef: ModuleRef,
    private readonly defaultName: string,
  ) {
    const mode = options?.session?.evictionCheck;
    if (mode !== undefined && !MODES.includes(mode)) {
      throw new RedisConfigError([`session.evictionCheck must be 'warn', 'refuse' or 'off' (got ${JSON.stringify(mode)})`]);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    const mode = this.options?.session?.evictionCheck ?? 'warn';
    if (mode === 'off') return;
    const name = this.options?.session?.connection ?? this.defaultName;
    let connection: unknown;
    try {
      connection = this.moduleRef.get(getRedisConnectionToken(name), { strict: false });
    } catch {
      return; // the session providers report an unknown connection name
    }
    if (!(connection instanceof RedisConnection) || !connection.client) return;
    // Idempotent: waits for the first connection attempt if it is still under way.
    await connection.onModuleInit();
    this.watch = evictionWatchOf(connection) ?? watchEviction(connection, mode, 'sessions and the deny-list');
    const onStatus = (status: string) => {
      if (status === 'connected') void this.watch?.check();
    };
    connection.on('status', onStatus);
    this.off = () => connection.off('status', onStatus);
    await this.watch.checkAtStartup();
  }

  onApplicationShutdown(): void {
    this.off?.();
  }
}

export function sessionEvictionProviders(name: string): Provider[] {
  return [
    {
      provide: SessionEvictionCheck,
      useFactory: (options: { session?: SessionOptions }, moduleRef: ModuleRef) => new SessionEvictionCheck(options, moduleRef, name),
      inject: [REDIS_MODULE_OPTIONS, ModuleRef],
    },
  ];
}
