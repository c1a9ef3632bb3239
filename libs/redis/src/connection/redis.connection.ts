import { EventEmitter } from 'node:events';
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { FallbackEngine, type FallbackEngineStats } from '../engine/fallback.engine.js';
import { MemoryEngine } from '../engine/memory.engine.js';
import { RedisEngine } from '../engine/redis.engine.js';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { RedisUnavailableError } from '../redis.errors.js';
import { describeTarget, type ResolvedRedisOptions } from './connection.options.js';
import { closeClient } from '../engine/redis.close.js';
import { createRedisClient } from './redis-client.factory.js';
import { DEFAULT_REDIS_NAME } from './redis.tokens.js';
import { describeTlsError } from './tls-errors.js';

/** Where a connection stands: `'connecting'`, `'connected'`, `'memory-fallback'` (embedded store or outage) or `'disconnected'`. */
export type RedisStatus = 'connecting' | 'connected' | 'memory-fallback' | 'disconnected';

/** Events of `RedisConnection` (an `EventEmitter`). */
export interface RedisConnectionEvents {
  /** Fired on every status change, with the previous status. */
  status: [status: RedisStatus, previous: RedisStatus];
}

/**
 * One managed connection: the ioredis client, the engine capabilities use, and the status an
 * operator sees. It connects in `onModuleInit` without blocking start-up on a dead Redis, logs a
 * single warning per outage (not one line per retry), and on shutdown closes only what it created.
 */
export class RedisConnection extends EventEmitter<RedisConnectionEvents> implements OnModuleInit, OnApplicationShutdown {
  /** The ioredis client, or `null` when no Redis is configured and the embedded store is used. */
  readonly client: Redis | Cluster | null;
  /** The store every capability talks to: Redis behind a breaker, or memory alone. */
  readonly engine: StoreEngine;
  private readonly fallback?: FallbackEngine;
  private readonly ownsClient: boolean;
  private readonly logger: Logger;
  private current: RedisStatus = 'connecting';
  private everReady = false;
  private shutDown = false;
  private closing?: Promise<void>;
  private lastError?: string;
  private readonly detach: Array<() => void> = [];

  constructor(
    readonly options: ResolvedRedisOptions,
    readonly name: string = DEFAULT_REDIS_NAME,
  ) {
    super();
    this.logger = new Logger(name === DEFAULT_REDIS_NAME ? 'Redis' : `Redis:${name}`);
    const target = options.target;
    const onHandlerError = (error: unknown, channel: string) =>
      this.logger.error(`A subscriber of channel "${channel}" threw: ${error instanceof Error ? error.message : String(error)}`);
    const memory = () => new MemoryEngine({ ...options.memory, onHandlerError });

    if (target.kind === 'none') {
      this.client = null;
      this.ownsClient = false;
      this.engine = memory();
      this.current = 'memory-fallback';
      return;
    }
    this.ownsClient = target.kind !== 'client';
    this.client = target.kind === 'client' ? target.client : createRedisClient(target, options);
    // A subscription waits for Redis at most as long as start-up waits for the connection.
    const redis = new RedisEngine(this.client, { keyPrefix: options.keyPrefix, onHandlerError, subscribeTimeoutMs: options.connectTimeoutMs || options.commandTimeoutMs });
    this.fallback = new FallbackEngine(redis, options.fallback === 'memory' ? memory() : null, {
      commandTimeoutMs: options.commandTimeoutMs,
      ...options.breaker,
    });
    this.engine = this.fallback;
    this.wire(this.client, this.fallback);
  }

  status(): RedisStatus {
    return this.current;
  }

  /** The breaker's counters (outages, recoveries, journal), or `null` on the embedded store. */
  breakerStats(): FallbackEngineStats | null {
    return this.fallback?.stats() ?? null;
  }

  /**
   * Times every command sent to Redis (outcome included). One observer at a time; commands are not
   * timed at all while none is set. Returns a function that removes it.
   * @internal Wiring for `RedisMetricsModule`, which holds the one observer.
   */
  observeCommands(observer: (durationMs: number, ok: boolean) => void): () => void {
    const fallback = this.fallback;
    if (!fallback) return () => undefined;
    fallback.onCommand = observer;
    return () => {
      if (fallback.onCommand === observer) fallback.onCommand = undefined;
    };
  }

  /** Round-trip latency to Redis in milliseconds; rejects while Redis is unreachable. */
  async ping(): Promise<number> {
    if (!this.fallback) throw new RedisUnavailableError('no Redis is configured (embedded in-memory store)');
    return this.fallback.ping();
  }

  private initialized?: Promise<void>;

  /** Idempotent: the connection may be registered under several tokens (class and name). */
  onModuleInit(): Promise<void> {
    this.initialized ??= this.connect();
    return this.initialized;
  }

  private async connect(): Promise<void> {
    if (!this.client) {
      this.logger.log(`Serving from ${describeTarget(this.options.target)}`);
      return;
    }
    const where = describeTarget(this.options.target);
    if (this.client.status === 'ready') {
      this.markReady();
      return;
    }
    try {
      await this.waitForReady(this.client);
      this.logger.log(`Connected to ${where}`);
    } catch (error) {
      this.lastError = errorText(error);
      this.fallback!.connectionLost(this.lastError);
      // Start-up goes on (the breaker's switch logged one warning): the app serves from the
      // fallback and switches over when Redis appears.
      this.refreshStatus();
    }
  }

  /** A second call waits for the first shutdown to finish (it may be waiting out the grace). */
  onApplicationShutdown(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.shutDown = true;
    const grace = this.options.breaker.shutdownGraceMs;
    if (this.fallback && this.fallback.unwritten() > 0 && grace > 0) {
      this.logger.warn(`Shutting down with ${this.fallback.unwritten()} write(s) made while Redis was away: waiting up to ${grace} ms for Redis to take them`);
      await this.fallback.drain(grace);
    }
    const stats = this.fallback?.stats();
    const unwritten = this.fallback?.unwritten() ?? 0;
    if (stats && unwritten > 0) {
      // Outage writes live only in this process until replayed: say so rather than lose them quietly.
      this.logger.error(
        `Shutting down with ${unwritten} write(s) made while Redis was away not yet written to Redis (${stats.securityJournalSize} revocation(s) or deny(s)); they are lost`,
      );
    }
    await this.fallback?.close();
    if (!this.fallback) await this.engine.close();
    for (const off of this.detach.splice(0)) off();
    if (this.client && this.ownsClient) await closeClient(this.client);
    this.setStatus('disconnected');
  }

  private wire(client: Redis | Cluster, fallback: FallbackEngine): void {
    const on = (event: string, listener: (...args: unknown[]) => void) => {
      client.on(event, listener);
      this.detach.push(() => client.off(event, listener));
    };
    // ioredis emits 'error' on every failed reconnect; without a listener it would crash the app.
    on('error', (error) => (this.lastError = errorText(error)));
    on('ready', () => this.markReady());
    on('close', () => {
      if (!this.shutDown) fallback.connectionLost(this.lastError ?? 'connection closed');
    });
    this.detach.push(fallback.onModeChange((_mode, reason) => this.refreshStatus(reason)));
    // One line per capability and reason until the next outage; stats() and the event carry the rest.
    const reported = new Set<string>();
    this.detach.push(fallback.onModeChange((mode) => mode !== 'redis' && reported.clear()));
    this.detach.push(
      fallback.onReplayRefused((r) => {
        const key = `${r.capability}/${r.reason}/${r.outcome}`;
        if (reported.has(key)) return;
        reported.add(key);
        this.logger.error(
          r.outcome === 'held'
            ? `Redis refused a ${r.capability} write made during the outage (${r.reason}, ${r.attempts} tries); ${r.capability} fails closed until it is written (retried in the background)`
            : `Redis refused a ${r.capability} write made during the outage (${r.reason}, ${r.attempts} tries); it was dropped`,
        );
      }),
    );
  }

  private markReady(): void {
    this.everReady = true;
    this.lastError = undefined;
    this.fallback?.connectionReady();
    this.refreshStatus();
  }

  private refreshStatus(reason?: string): void {
    if (this.shutDown || !this.fallback) return;
    const why = this.lastError ?? reason ?? 'not answering';
    const mode = this.fallback.mode();
    if (mode !== 'redis') {
      const next = mode === 'fallback' ? 'memory-fallback' : 'disconnected';
      if (next !== this.current) {
        this.logger.warn(
          next === 'memory-fallback'
            ? `Redis unavailable (${why}): serving from the in-memory fallback until it returns`
            : `Redis unavailable (${why}): commands fail fast until it returns (fallback: 'none')`,
        );
      }
      this.setStatus(next);
      return;
    }
    if (!this.everReady) {
      this.setStatus('connecting');
      return;
    }
    if (this.current === 'memory-fallback' || this.current === 'disconnected') this.logger.log('Redis is back: serving from Redis again');
    this.setStatus('connected');
  }

  private setStatus(next: RedisStatus): void {
    if (next === this.current) return;
    const previous = this.current;
    this.current = next;
    this.emit('status', next, previous);
  }

  private waitForReady(client: Redis | Cluster): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      const onReady = () => done();
      const done = (error?: Error) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        if (error) reject(error);
        else resolve();
      };
      client.once('ready', onReady);
      if (client.status === 'wait') client.connect().catch((error: unknown) => done(error instanceof Error ? error : new Error(String(error))));
    });
  }
}

function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return errorText(error.errors[0]);
  return describeTlsError(error) ?? (error instanceof Error ? error.message : String(error));
}
