import type { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from '../connection/redis.connection.js';
import { withTimeout } from './with-timeout.js';

/**
 * What Redis itself says, for the questions operators ask: commands per second, clients, memory,
 * keys, evictions, expirations and slow commands. On Cluster every master is asked and the figures
 * are summed (memory ratio: the fullest master). Counters that Redis resets (restart, failover to
 * another server) are followed by `run_id`, so totals here only ever grow.
 */
export interface RedisServerSample {
  /** When the figures were read (ms since the epoch). */
  at: number;
  /** Servers asked: 1, or the masters of a Cluster. */
  nodes: number;
  opsPerSec: number;
  connectedClients: number;
  usedMemoryBytes: number;
  /** Summed `maxmemory`; 0 when any server has no limit. */
  maxMemoryBytes: number;
  /** used / max of the fullest server; null when a server has no `maxmemory`. */
  memoryRatio: number | null;
  /** DBSIZE, summed. */
  keys: number;
  /** Keys per capability (`cache`, `sess`, `rl`, ...), estimated from a bounded sample. */
  keysByPrefix: Record<string, number>;
  /** Totals since this sampler first saw each server. */
  commandsProcessed: number;
  evictedKeys: number;
  expiredKeys: number;
  /** SLOWLOG entries since this sampler first saw each server, by command name. */
  slowCommands: Record<string, number>;
}

/** How often and how deeply the server sampler asks Redis (INFO, SLOWLOG, keyspace sample); results are cached between rounds. */
export interface RedisServerSamplerOptions {
  /** Results younger than this are reused, so several scrapes and status pages cost one round (default 1000). */
  minIntervalMs?: number;
  /** How long the per-prefix key estimate is reused (default 30 s). */
  keyspaceIntervalMs?: number;
  /** Keys sampled per server for the per-prefix estimate (RANDOMKEY; default 100). */
  keyspaceSample?: number;
  /** Longest one sampling round may take (default 1000). */
  timeoutMs?: number;
}

/** SLOWLOG entries read per server and round at most; ids say how many there were when more came in. */
const SLOWLOG_READ = 128;
/** Distinct command names kept as labels; the rest are counted under `other`. */
const MAX_COMMAND_LABELS = 32;
/** Distinct prefixes kept; the rest are counted under `other`. */
const MAX_PREFIX_LABELS = 16;

interface NodeState {
  runId: string;
  commands: number;
  evicted: number;
  expired: number;
  slowlogId: number;
}

interface NodeReading {
  runId: string;
  ops: number;
  clients: number;
  used: number;
  max: number;
  commands: number;
  evicted: number;
  expired: number;
  dbsize: number;
  slowlog: Array<{ id: number; command: string }>;
}

export class RedisServerSampler {
  private readonly minIntervalMs: number;
  private readonly keyspaceIntervalMs: number;
  private readonly keyspaceSample: number;
  private readonly timeoutMs: number;
  private last?: RedisServerSample;
  private inFlight?: Promise<RedisServerSample | null>;
  private readonly nodes = new Map<string, NodeState>();
  private totals = { commands: 0, evicted: 0, expired: 0 };
  private readonly slow = new Map<string, number>();
  private keyspace?: { at: number; keys: number; byPrefix: Record<string, number> };

  constructor(
    private readonly connection: RedisConnection,
    options: RedisServerSamplerOptions = {},
  ) {
    this.minIntervalMs = options.minIntervalMs ?? 1_000;
    this.keyspaceIntervalMs = options.keyspaceIntervalMs ?? 30_000;
    this.keyspaceSample = options.keyspaceSample ?? 100;
    this.timeoutMs = options.timeoutMs ?? 1_000;
  }

  /** The newest sample that succeeded, without asking Redis. */
  latest(): RedisServerSample | undefined {
    return this.last;
  }

  /**
   * A fresh sample (or one younger than `minIntervalMs`); null while Redis cannot be asked (no
   * Redis configured, serving from the fallback, or no answer in time). Never rejects.
   */
  sample(): Promise<RedisServerSample | null> {
    // A figure read a moment before an outage must not be shown as current during it.
    if (!this.connection.client || this.connection.engine.mode() !== 'redis') return Promise.resolve(null);
    if (this.last && Date.now() - this.last.at < this.minIntervalMs) return Promise.resolve(this.last);
    this.inFlight ??= this.read()
      .catch(() => null)
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async read(): Promise<RedisServerSample | null> {
    const client = this.connection.client;
    if (!client || this.connection.engine.mode() !== 'redis') return null;
    const servers: Redis[] = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
    if (servers.length === 0) return null;
    const readings = await withTimeout(Promise.all(servers.map((s) => this.readServer(s))), this.timeoutMs);
    const byPrefix = await this.keyspaceEstimate(servers, readings);

    for (const r of readings) this.account(r);
    const limited = readings.every((r) => r.max > 0);
    const sample: RedisServerSample = {
      at: Date.now(),
      nodes: readings.length,
      opsPerSec: sum(readings, (r) => r.ops),
      connectedClients: sum(readings, (r) => r.clients),
      usedMemoryBytes: sum(readings, (r) => r.used),
      maxMemoryBytes: limited ? sum(readings, (r) => r.max) : 0,
      memoryRatio: limited ? Math.round(Math.max(...readings.map((r) => r.used / r.max)) * 10_000) / 10_000 : null,
      keys: sum(readings, (r) => r.dbsize),
      keysByPrefix: byPrefix,
      commandsProcessed: this.totals.commands,
      evictedKeys: this.totals.evicted,
      expiredKeys: this.totals.expired,
      slowCommands: Object.fromEntries(this.slow),
    };
    this.last = sample;
    return sample;
  }

  /**
   * INFO, DBSIZE and the newest SLOWLOG entry; the entries added since the last round only when
   * there are some (at most SLOWLOG_READ), so a quiet server costs one small reply, not 128 entries.
   */
  private async readServer(server: Redis): Promise<NodeReading> {
    const reading = await readNode(server);
    const known = this.nodes.get(reading.runId);
    const newest = reading.slowlog[0]?.id ?? -1;
    if (known && newest > known.slowlogId && newest - known.slowlogId > 1) {
      reading.slowlog = parseSlowlog(await server.call('SLOWLOG', 'GET', String(Math.min(SLOWLOG_READ, newest - known.slowlogId))));
    }
    return reading;
  }

  /** Adds what a server did since it was last read; a server seen for the first time only sets the baseline. */
  private account(r: NodeReading): void {
    const maxId = r.slowlog.reduce((m, e) => Math.max(m, e.id), -1);
    const known = this.nodes.get(r.runId);
    this.nodes.set(r.runId, { runId: r.runId, commands: r.commands, evicted: r.evicted, expired: r.expired, slowlogId: Math.max(maxId, known?.slowlogId ?? -1) });
    // Bound the map of servers (a long-lived process sees restarts and failovers).
    if (this.nodes.size > 64) this.nodes.delete(this.nodes.keys().next().value!);
    if (!known) return;
    this.totals.commands += Math.max(0, r.commands - known.commands);
    this.totals.evicted += Math.max(0, r.evicted - known.evicted);
    this.totals.expired += Math.max(0, r.expired - known.expired);
    if (maxId <= known.slowlogId) return;
    // Ids are consecutive: the gap says how many entries came in, even those already rotated out.
    const fresh = r.slowlog.filter((e) => e.id > known.slowlogId);
    for (const e of fresh) this.countSlow(e.command, 1);
    const unseen = maxId - known.slowlogId - fresh.length;
    if (unseen > 0) this.countSlow('other', unseen);
  }

  private countSlow(command: string, n: number): void {
    const label = this.slow.has(command) || this.slow.size < MAX_COMMAND_LABELS ? command : 'other';
    this.slow.set(label, (this.slow.get(label) ?? 0) + n);
  }

  /**
   * Keys per capability: exact (SCAN) when a server holds no more keys than the sample size, else
   * estimated from RANDOMKEY draws scaled to DBSIZE. Never a full SCAN of a large keyspace, and
   * reused for `keyspaceIntervalMs`.
   */
  private async keyspaceEstimate(servers: Redis[], readings: NodeReading[]): Promise<Record<string, number>> {
    const keys = sum(readings, (r) => r.dbsize);
    const cached = this.keyspace;
    // Reused while fresh, unless the key count moved a lot since (a flush, a restart without persistence).
    const drifted = cached !== undefined && Math.abs(keys - cached.keys) > Math.max(10, cached.keys / 2);
    if (cached && !drifted && Date.now() - cached.at < this.keyspaceIntervalMs) return cached.byPrefix;
    const prefix = this.connection.options.keyPrefix ?? '';
    const counts = new Map<string, number>();
    const add = (label: string, n: number) => {
      const key = counts.has(label) || counts.size < MAX_PREFIX_LABELS ? label : 'other';
      counts.set(key, (counts.get(key) ?? 0) + n);
    };
    await withTimeout(
      Promise.all(
        servers.map(async (server, i) => {
          const size = readings[i]!.dbsize;
          if (size === 0) return;
          let keys: string[];
          if (size <= this.keyspaceSample) {
            keys = [];
            let cursor = '0';
            do {
              const [next, batch] = (await server.scan(cursor, 'COUNT', 1_000)) as [string, string[]];
              keys.push(...batch);
              cursor = next;
            } while (cursor !== '0' && keys.length <= this.keyspaceSample * 2);
            for (const key of keys) add(capabilityOf(key, prefix), 1);
            return;
          }
          const pipeline = server.pipeline();
          for (let n = 0; n < this.keyspaceSample; n++) pipeline.randomkey();
          const replies = (await pipeline.exec()) ?? [];
          keys = replies.map(([, key]) => key).filter((k): k is string => typeof k === 'string');
          if (keys.length === 0) return;
          const per = new Map<string, number>();
          for (const key of keys) per.set(capabilityOf(key, prefix), (per.get(capabilityOf(key, prefix)) ?? 0) + 1);
          for (const [label, n] of per) add(label, Math.round((n / keys.length) * size));
        }),
      ),
      this.timeoutMs,
    );
    const byPrefix = Object.fromEntries(counts);
    this.keyspace = { at: Date.now(), keys, byPrefix };
    return byPrefix;
  }
}

/** `cache`, `sess`, `rl`, `lock`... for our keys; `foreign` for keys outside `keyPrefix`. */
export function capabilityOf(key: string, keyPrefix: string): string {
  if (keyPrefix && !key.startsWith(keyPrefix)) return 'foreign';
  const rest = key.slice(keyPrefix.length);
  const end = rest.indexOf(':');
  const segment = end > 0 ? rest.slice(0, end) : '';
  // A label must stay short and printable whatever keys others wrote.
  return /^[a-z][a-z0-9_-]{0,15}$/i.test(segment) ? segment : 'other';
}

async function readNode(server: Redis): Promise<NodeReading> {
  const [info, dbsize, slowlog] = await Promise.all([
    server.call('INFO', 'server', 'clients', 'memory', 'stats') as Promise<string>,
    server.dbsize(),
    server.call('SLOWLOG', 'GET', '1'),
  ]);
  const text = String(info);
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1]?.trim();
  const num = (name: string) => Number(field(name) ?? 0) || 0;
  return {
    runId: field('run_id') ?? 'unknown',
    ops: num('instantaneous_ops_per_sec'),
    clients: num('connected_clients'),
    used: num('used_memory'),
    max: num('maxmemory'),
    commands: num('total_commands_processed'),
    evicted: num('evicted_keys'),
    expired: num('expired_keys'),
    dbsize: Number(dbsize),
    slowlog: parseSlowlog(slowlog),
  };
}

/** Only the id and the command name are kept: arguments may hold user data. Newest first, as Redis sends them. */
function parseSlowlog(reply: unknown): Array<{ id: number; command: string }> {
  return (Array.isArray(reply) ? reply : []).map((entry) => {
    const [id, , , args] = entry as [number, number, number, unknown[]];
    const name = Array.isArray(args) && args.length > 0 ? String(args[0]).toLowerCase() : 'unknown';
    return { id: Number(id), command: /^[a-z][a-z0-9_|.-]{0,31}$/.test(name) ? name : 'other' };
  });
}

const sum = <T>(items: T[], f: (item: T) => number) => items.reduce((total, item) => total + f(item), 0);
