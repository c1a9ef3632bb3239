import { Inject, Injectable, Optional } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { RedisConnection } from '../connection/redis.connection.js';
import { DEFAULT_REDIS_NAME, getRedisConnectionToken } from '../connection/redis.tokens.js';
import { probeRedis, topologyOf } from './redis-health.probe.js';
import { REDIS_HEALTH_OPTIONS, type RedisHealthModuleOptions } from './redis-health.options.js';

/** Options of `RedisHealthIndicator.isHealthy`. */
export interface RedisHealthCheckOptions {
  /** Longest the check may take; past it Redis is reported `down` (default 1000). */
  timeoutMs?: number;
  /** Which connection to check (default: the default connection). */
  connection?: string;
  /** Status of the embedded store (no Redis configured), overriding `RedisHealthModule.forRoot({ embedded })`. */
  embedded?: 'up' | 'degraded';
}

/** Default deadline of a health check, in milliseconds. */
export const REDIS_HEALTH_DEFAULT_TIMEOUT_MS = 1_000;

/**
 * Terminus 12 indicator for the module's own Redis connection:
 * - `up` with latency, topology, role and memory when Redis answers;
 * - `degraded` while the instance serves from the in-memory fallback (still serving: HTTP 200);
 * - `down` on an error, a timeout, or while Redis is away with `fallback: 'none'`.
 * It never throws (Terminus turns a rejection into a 500) and never waits past `timeoutMs`.
 */
@Injectable()
export class RedisHealthIndicator {
  private readonly connections = new Map<string, RedisConnection>();

  constructor(
    private readonly health: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
    @Optional() @Inject(REDIS_HEALTH_OPTIONS) private readonly moduleOptions: RedisHealthModuleOptions = {},
  ) {}

  async isHealthy<const Key extends string = 'redis'>(key: Key = 'redis' as Key, options: RedisHealthCheckOptions = {}): Promise<HealthIndicatorResult<Key>> {
    const session = this.health.check(key);
    const timeoutMs = options.timeoutMs ?? REDIS_HEALTH_DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return session.down({ message: `timeoutMs must be a positive number of milliseconds (got ${String(options.timeoutMs)})` });
    const name = options.connection ?? DEFAULT_REDIS_NAME;
    const connection = this.connection(name);
    if (!connection) return session.down({ message: `no Redis connection named "${name}" is registered` });

    const mode = topologyOf(connection);
    const status = connection.status();
    if (status === 'memory-fallback') {
      if (mode === 'embedded' && (options.embedded ?? this.moduleOptions?.embedded) === 'up') {
        return session.up({ mode, engine: 'memory', message: 'no Redis configured: the in-memory store is used by design' });
      }
      return session.degraded({
        mode,
        engine: 'memory',
        message: mode === 'embedded' ? 'no Redis configured: serving from the in-memory store' : 'Redis unavailable: serving from the in-memory fallback',
      });
    }
    if (status === 'disconnected') return session.down({ mode, engine: 'none', message: 'Redis unavailable and the fallback is disabled' });

    const probe = probeRedis(connection);
    // The probe may settle long after the deadline (a frozen server); nobody must see that rejection.
    probe.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      const outcome = await Promise.race([probe, deadline]);
      if (outcome === 'timeout') return session.down({ mode, engine: 'redis', message: `Redis did not answer within ${timeoutMs} ms` });
      return session.up({ ...outcome });
    } catch (error) {
      return session.down({ mode, engine: 'redis', message: error instanceof Error ? error.message : String(error) });
    } finally {
      clearTimeout(timer);
    }
  }

  private connection(name: string): RedisConnection | undefined {
    const known = this.connections.get(name);
    if (known) return known;
    let found: unknown;
    try {
      found = this.moduleRef.get(getRedisConnectionToken(name), { strict: false });
    } catch {
      return undefined;
    }
    if (!(found instanceof RedisConnection)) return undefined;
    this.connections.set(name, found);
    return found;
  }
}
