import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { RedisConnection, RedisStatus } from '../connection/redis.connection.js';
import type { EngineMode } from '../engine/store-engine.types.js';
// The probe module, not the indicator: no @nestjs/terminus import comes with it.
import { topologyOf, type RedisTopology } from '../health/redis-health.probe.js';
import type { Cluster, Redis } from 'ioredis';
import { RedisMetricsExporter } from './redis-metrics.exporter.js';
import { withTimeout } from './with-timeout.js';
import type { RedisServerSample } from './redis-server.sampler.js';
import { parsePrometheusText, summarizeMetrics, type MetricsSummary } from './redis-status.js';

/** A switch of the engine between Redis and memory, as an operator reads it. */
export interface ModeTransition {
  at: number;
  /** `memory` (serving from the fallback) or `redis`. */
  to: 'memory' | 'redis' | 'unavailable';
  reason: string;
}

/** The state of one named Redis connection in a status snapshot: status, serving mode, topology, latency, breaker, recent switches and server figures. */
export interface ConnectionSnapshot {
  name: string;
  status: RedisStatus;
  /** Where commands are served: `redis`, `memory` (fallback or embedded store) or `unavailable`. */
  mode: 'redis' | 'memory' | 'unavailable';
  engine: EngineMode;
  topology: RedisTopology;
  /** The server(s) commands go to: the standalone server, the Sentinel master, or the Cluster masters. */
  nodes: string[];
  /** PING round trip; null while Redis cannot be asked. */
  latencyMs: number | null;
  breaker: { journalSize: number; opened: number; recovered: number; journalDropped: number } | null;
  /** The latest switches, newest last. */
  transitions: ModeTransition[];
  server: RedisServerSample | null;
}

/** Everything a status page shows, as `RedisStatusService` returns it: every connection plus this instance's metrics summary. */
export interface RedisStatusSnapshot {
  at: number;
  connections: ConnectionSnapshot[];
  /** This instance's capability figures (cache, rate limit, sessions), from its metrics. */
  metrics: MetricsSummary;
}

const MAX_TRANSITIONS = 20;
const PING_TIMEOUT_MS = 1_000;

/**
 * One object with everything a status page shows, read from the connection, its breaker, Redis
 * itself (through the exporter's cached sampler) and the metrics registry. Snapshots taken within
 * `minIntervalMs` of each other are shared, so a hundred open pages cost one round.
 */
@Injectable()
export class RedisStatusService implements OnModuleInit, OnModuleDestroy {
  private readonly transitions = new Map<string, ModeTransition[]>();
  private readonly cleanups: Array<() => void> = [];
  private last?: RedisStatusSnapshot;
  private inFlight?: Promise<RedisStatusSnapshot>;
  /** Snapshots younger than this are reused (ms). */
  minIntervalMs = 500;

  constructor(private readonly exporter: RedisMetricsExporter) {}

  onModuleInit(): void {
    for (const { name, connection } of this.exporter.watchedConnections()) {
      const list: ModeTransition[] = [];
      this.transitions.set(name, list);
      this.cleanups.push(
        connection.engine.onModeChange((mode, reason) => {
          list.push({ at: Date.now(), to: shownMode(mode), reason: reason.slice(0, 200) });
          if (list.length > MAX_TRANSITIONS) list.shift();
        }),
      );
    }
  }

  onModuleDestroy(): void {
    for (const off of this.cleanups.splice(0)) off();
  }

  snapshot(): Promise<RedisStatusSnapshot> {
    if (this.last && Date.now() - this.last.at < this.minIntervalMs) return Promise.resolve(this.last);
    this.inFlight ??= this.take().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async take(): Promise<RedisStatusSnapshot> {
    const [connections, text] = await Promise.all([
      Promise.all(this.exporter.watchedConnections().map(({ name, connection }) => this.describe(name, connection))),
      this.exporter.metrics(),
    ]);
    const snapshot = { at: Date.now(), connections, metrics: summarizeMetrics(parsePrometheusText(text), this.exporter.prefix) };
    this.last = snapshot;
    return snapshot;
  }

  private async describe(name: string, connection: RedisConnection): Promise<ConnectionSnapshot> {
    const engine = connection.engine.mode();
    const stats = connection.breakerStats();
    const [latencyMs, server] = await Promise.all([
      engine === 'redis' ? withTimeout(connection.ping(), PING_TIMEOUT_MS).then((ms) => Math.round(ms * 100) / 100, () => null) : Promise.resolve(null),
      this.exporter.serverSample(name),
    ]);
    return {
      name,
      status: connection.status(),
      mode: shownMode(engine),
      engine,
      topology: topologyOf(connection),
      nodes: nodesOf(connection),
      latencyMs,
      breaker: stats ? { journalSize: stats.journalSize, opened: stats.opened, recovered: stats.recovered, journalDropped: stats.journalDropped } : null,
      transitions: [...(this.transitions.get(name) ?? [])],
      server,
    };
  }
}

function shownMode(mode: EngineMode): 'redis' | 'memory' | 'unavailable' {
  return mode === 'redis' ? 'redis' : mode === 'unavailable' ? 'unavailable' : 'memory';
}

function nodesOf(connection: RedisConnection): string[] {
  const client = connection.client;
  if (!client) return [];
  if (client.isCluster) return (client as Cluster).nodes('master').map((n) => `${n.options.host}:${n.options.port}`);
  const redis = client as Redis;
  // Sentinel: the master the connection talks to now, not the configured sentinels.
  const { remoteAddress, remotePort } = redis.stream ?? {};
  if (remoteAddress) return [`${remoteAddress}:${remotePort}`];
  return redis.options.path ? [redis.options.path] : [`${redis.options.host}:${redis.options.port}`];
}
