import { performance } from 'node:perf_hooks';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type ChainableCommander, type Redis } from 'ioredis';
import { ClearRefusedError } from '../redis.errors.js';
import { escapeGlob } from './glob.util.js';
import { toPermissionError } from './permission.error.js';
import { RedisSubscriber } from './redis.subscriber.js';
import { CACHE_WRITE } from './scripts/cache.scripts.js';
import type { ScriptDefinition, ScriptReply } from './script.types.js';
import type { StoreEngine } from './store-engine.port.js';
import type {
  EngineMode,
  MessageHandler,
  MsetEntry,
  PatternMessageHandler,
  SetOptions,
  StreamEntry,
  SubscribeOptions,
  Unsubscribe,
  ZEntry,
} from './store-engine.types.js';

// Closing helpers live in redis.close.ts (the subscriber uses them too); re-exported for existing callers.
export { closeClient, disconnectAndWait } from './redis.close.js';

export interface RedisEngineOptions {
  keyPrefix: string;
  /** How long `subscribe` waits for Redis to confirm; the subscription stays registered either way. Default 2 s. */
  subscribeTimeoutMs?: number;
  onHandlerError?: (error: unknown, channel: string) => void;
}

type Client = Redis | Cluster;
type ScriptCommand = (...args: (string | number)[]) => Promise<ScriptReply>;

/**
 * The port on ioredis, for a standalone/Sentinel `Redis` or a `Cluster`. It adds `keyPrefix` itself
 * (ioredis' own option misses SCAN patterns and replies) and splits multi-key commands by hash slot
 * so they run on Cluster. It has no deadlines or fallback: `FallbackEngine` wraps it for that.
 */
export class RedisEngine implements StoreEngine {
  private readonly prefix: string;
  private readonly isCluster: boolean;
  private readonly defined = new Set<string>();
  private readonly subscriber: RedisSubscriber;

  constructor(
    readonly client: Client,
    options: RedisEngineOptions,
  ) {
    this.prefix = options.keyPrefix;
    this.isCluster = client instanceof Cluster;
    this.subscriber = new RedisSubscriber(client, options.keyPrefix, options.onHandlerError, options.subscribeTimeoutMs);
  }

  mode(): EngineMode {
    return 'redis';
  }

  // The breaker in front of this engine owns mode changes and replay.
  onModeChange(): () => void {
    return () => undefined;
  }

  onReplayIncomplete(): () => void {
    return () => undefined;
  }

  onReplayRefused(): () => void {
    return () => undefined;
  }

  refusedWrites(): number {
    return 0;
  }

  get keyPrefix(): string {
    return this.prefix;
  }

  /** SCRIPT LOAD on every node that may run them, so EVALSHA finds them (used before a pipelined replay). */
  async loadScripts(scripts: readonly ScriptDefinition[]): Promise<void> {
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    await Promise.all(nodes.flatMap((node) => scripts.map((s) => node.script('LOAD', s.lua))));
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  get(key: string) {
    return this.client.get(this.k(key));
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    const args: (string | number)[] = [this.k(key), value];
    if (options.ttlMs && options.ttlMs > 0) args.push('PX', Math.ceil(options.ttlMs));
    if (options.nx) args.push('NX');
    else if (options.xx) args.push('XX');
    const publish = options.publish;
    if (publish && !options.nx && !options.xx) {
      // Another node may publish before this key's node applied the write: there, one script does both.
      if (this.isCluster) return (await this.runScript(CACHE_WRITE, [key], [value, options.ttlMs && options.ttlMs > 0 ? Math.ceil(options.ttlMs) : 0, '', '', publish.message, publish.channel, key.length])) === 1;
      // Same connection, sent back to back: one round trip, and Redis runs the PUBLISH after the SET.
      const [reply] = await Promise.all([this.client.call('SET', ...args), this.client.publish(this.k(publish.channel), publish.message)]);
      return reply === 'OK';
    }
    const reply = await this.client.call('SET', ...args);
    return reply === 'OK';
  }

  async mget(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    if (!this.isCluster) return this.client.mget(keys.map((k) => this.k(k)));
    const out: (string | null)[] = new Array(keys.length).fill(null);
    await Promise.all(
      [...this.bySlot(keys)].map(async ([, indexes]) => {
        const values = await this.client.mget(indexes.map((i) => this.k(keys[i]!)));
        indexes.forEach((i, j) => (out[i] = values[j] ?? null));
      }),
    );
    return out;
  }

  async mset(entries: readonly MsetEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const groups = this.isCluster ? [...this.bySlot(entries.map((e) => e.key)).values()] : [entries.map((_, i) => i)];
    await Promise.all(
      groups.map((indexes) => {
        const pipeline = this.client.pipeline();
        for (const i of indexes) {
          const e = entries[i]!;
          if (e.ttlMs && e.ttlMs > 0) pipeline.set(this.k(e.key), e.value, 'PX', Math.ceil(e.ttlMs));
          else pipeline.set(this.k(e.key), e.value);
        }
        return execPipeline(pipeline);
      }),
    );
  }

  async del(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    if (!this.isCluster) return this.client.unlink(...keys.map((k) => this.k(k)));
    const counts = await Promise.all([...this.bySlot(keys).values()].map((idx) => this.client.unlink(...idx.map((i) => this.k(keys[i]!)))));
    return counts.reduce((a, b) => a + b, 0);
  }

  async exists(key: string) {
    return (await this.client.exists(this.k(key))) === 1;
  }
  pttl(key: string) {
    return this.client.pttl(this.k(key));
  }
  async pexpire(key: string, ttlMs: number) {
    return (await this.client.pexpire(this.k(key), Math.ceil(ttlMs))) === 1;
  }
  async incrBy(key: string, by: number) {
    return this.client.incrby(this.k(key), by);
  }

  hget(key: string, field: string) {
    return this.client.hget(this.k(key), field);
  }
  async hset(key: string, fields: Readonly<Record<string, string>>) {
    if (Object.keys(fields).length === 0) return 0;
    return this.client.hset(this.k(key), fields);
  }
  async hgetall(key: string): Promise<Record<string, string>> {
    return toRecord(await this.client.hgetall(this.k(key)));
  }
  async hdel(key: string, fields: readonly string[]) {
    if (fields.length === 0) return 0;
    return this.client.hdel(this.k(key), ...fields);
  }

  async sadd(key: string, members: readonly string[]) {
    if (members.length === 0) return 0;
    return this.client.sadd(this.k(key), ...members);
  }
  async srem(key: string, members: readonly string[]) {
    if (members.length === 0) return 0;
    return this.client.srem(this.k(key), ...members);
  }
  async smembers(key: string) {
    return this.client.smembers(this.k(key));
  }
  async sismember(key: string, member: string) {
    return (await this.client.sismember(this.k(key), member)) === 1;
  }

  async zadd(key: string, entries: readonly ZEntry[]) {
    if (entries.length === 0) return 0;
    return Number(await this.client.zadd(this.k(key), ...entries.flatMap((e) => [score(e.score), e.member])));
  }
  async zincrby(key: string, by: number, member: string) {
    return Number(await this.client.zincrby(this.k(key), by, member));
  }
  async zrem(key: string, members: readonly string[]) {
    if (members.length === 0) return 0;
    return this.client.zrem(this.k(key), ...members);
  }
  async zscore(key: string, member: string) {
    const s = await this.client.zscore(this.k(key), member);
    return s === null || s === undefined ? null : Number(s);
  }
  async zcard(key: string) {
    return this.client.zcard(this.k(key));
  }
  async zrange(key: string, start: number, stop: number, options: { reverse?: boolean } = {}) {
    const args: (string | number)[] = [this.k(key), start, stop];
    if (options.reverse) args.push('REV');
    args.push('WITHSCORES');
    return toZEntries(await this.client.call('ZRANGE', ...args));
  }
  async zrangeByScore(key: string, min: number, max: number, options: { limit?: number } = {}) {
    const args: (string | number)[] = [this.k(key), score(min), score(max), 'WITHSCORES'];
    if (options.limit !== undefined) args.push('LIMIT', 0, options.limit);
    return toZEntries(await this.client.call('ZRANGEBYSCORE', ...args));
  }
  async zremRangeByScore(key: string, min: number, max: number) {
    return this.client.zremrangebyscore(this.k(key), score(min), score(max));
  }

  // ---- collections: lists, hash size, multi-field reads, rank (issue 17) -------------------------
  lpush(key: string, values: readonly string[], options: { cap?: number } = {}) {
    return this.push(key, values, 'left', options.cap);
  }
  rpush(key: string, values: readonly string[], options: { cap?: number } = {}) {
    return this.push(key, values, 'right', options.cap);
  }
  /** Push and trim in one MULTI on one key, so a reader never sees the list over its cap. */
  private async push(key: string, values: readonly string[], side: 'left' | 'right', cap?: number): Promise<number> {
    const k = this.k(key);
    if (values.length === 0) return this.client.llen(k);
    const capped = cap !== undefined && cap > 0;
    const tx = this.client.multi();
    if (side === 'left') tx.lpush(k, ...values);
    else tx.rpush(k, ...values);
    if (capped) {
      if (side === 'left') tx.ltrim(k, 0, cap - 1);
      else tx.ltrim(k, -cap, -1);
    }
    const results = (await tx.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
    const length = Number(results[0]![1]);
    return capped ? Math.min(length, cap) : length;
  }
  lrange(key: string, start: number, stop: number) {
    return this.client.lrange(this.k(key), start, stop);
  }
  llen(key: string) {
    return this.client.llen(this.k(key));
  }
  async ltrim(key: string, start: number, stop: number) {
    await this.client.ltrim(this.k(key), start, stop);
  }
  lrem(key: string, count: number, value: string) {
    return this.client.lrem(this.k(key), count, value);
  }
  hlen(key: string) {
    return this.client.hlen(this.k(key));
  }
  async hmget(key: string, fields: readonly string[]): Promise<(string | null)[]> {
    if (fields.length === 0) return [];
    return this.client.hmget(this.k(key), ...fields);
  }
  async zrank(key: string, member: string, options: { reverse?: boolean } = {}): Promise<number | null> {
    const rank = options.reverse ? await this.client.zrevrank(this.k(key), member) : await this.client.zrank(this.k(key), member);
    return rank === null || rank === undefined ? null : Number(rank);
  }
  // ---- end of collections ---------------------------------------------------------------------

  // ---- streams (message history, issue 16) ----------------------------------------------------
  async xadd(key: string, fields: Readonly<Record<string, string>>, options: { maxLen?: number } = {}): Promise<string> {
    const args: (string | number)[] = [this.k(key)];
    // Exact trimming (`=`, not `~`): the memory twin holds the same entries, and a room's cap is a number users read.
    if (options.maxLen !== undefined) args.push('MAXLEN', '=', options.maxLen);
    args.push('*', ...Object.entries(fields).flat());
    return String(await this.client.call('XADD', ...args));
  }
  async xrange(key: string, start: string, end: string, options: { count?: number } = {}): Promise<StreamEntry[]> {
    const count = options.count === undefined ? [] : ['COUNT', options.count];
    return toStreamEntries(await this.client.call('XRANGE', this.k(key), start, end, ...count));
  }
  async xrevrange(key: string, end: string, start: string, options: { count?: number } = {}): Promise<StreamEntry[]> {
    const count = options.count === undefined ? [] : ['COUNT', options.count];
    return toStreamEntries(await this.client.call('XREVRANGE', this.k(key), end, start, ...count));
  }
  xlen(key: string) {
    return this.client.xlen(this.k(key));
  }
  // ---- end of streams ---------------------------------------------------------------------------

  async *scan(pattern: string, options: { count?: number } = {}): AsyncIterable<string[]> {
    const match = escapeGlob(this.prefix) + pattern;
    const count = options.count ?? 100;
    // Keyless commands go to one random node on a Cluster; every master has to be walked.
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', count);
        cursor = next;
        if (keys.length > 0) yield keys.map((key) => key.slice(this.prefix.length));
      } while (cursor !== '0');
    }
  }

  async runScript(script: ScriptDefinition, keys: readonly string[], args: readonly (string | number)[]): Promise<ScriptReply> {
    if (keys.length !== script.numberOfKeys) throw new Error(`script ${script.name} takes ${script.numberOfKeys} keys (got ${keys.length})`);
    if (!this.defined.has(script.commandName)) {
      // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT (after a restart or failover).
      this.client.defineCommand(script.commandName, { numberOfKeys: script.numberOfKeys, lua: script.lua });
      this.defined.add(script.commandName);
    }
    const command = (this.client as unknown as Record<string, ScriptCommand>)[script.commandName]!;
    return command.call(this.client, ...keys.map((k) => this.k(k)), ...args).catch((error: unknown) => Promise.reject(toPermissionError(error, script)));
  }

  async time(): Promise<number> {
    const [seconds, micros] = await this.client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /**
   * On a Cluster every master must answer and the cluster must report `cluster_state:ok`: a random
   * node answering says nothing about the slots of a master that just died.
   */
  async ping(): Promise<number> {
    const start = performance.now();
    if (this.client instanceof Cluster) {
      const masters = this.client.nodes('master');
      if (masters.length === 0) throw new Error("Cluster isn't ready: no master is connected");
      await Promise.all(masters.map((node) => node.ping()));
      const info = await masters[0]!.cluster('INFO');
      if (!/cluster_state:ok/.test(String(info))) throw new Error('CLUSTERDOWN cluster_state is not ok');
    } else {
      await this.client.ping();
    }
    return performance.now() - start;
  }

  async wait(replicas: number, timeoutMs: number): Promise<number> {
    // WAIT covers the writes of the connection it is sent on: on a Cluster that is one per master.
    const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    if (nodes.length === 0) return 0;
    const counts = await Promise.all(nodes.map(async (node) => Number(await node.call('WAIT', replicas, Math.max(0, Math.ceil(timeoutMs))))));
    return Math.min(...counts);
  }

  async publish(channel: string, message: string) {
    return this.client.publish(this.k(channel), message);
  }

  subscribe(channel: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Unsubscribe> {
    return this.subscriber.subscribe(channel, handler, options);
  }

  psubscribe(pattern: string, handler: PatternMessageHandler): Promise<Unsubscribe> {
    return this.subscriber.psubscribe(pattern, handler);
  }

  async clear(): Promise<void> {
    if (!this.prefix) throw new ClearRefusedError('clear() needs a keyPrefix: without one it would remove every key in the Redis database');
    for await (const batch of this.scan('*', { count: 500 })) await this.del(batch);
  }

  async close(): Promise<void> {
    await this.subscriber.close();
  }

  private bySlot(keys: readonly string[]): Map<number, number[]> {
    const groups = new Map<number, number[]>();
    keys.forEach((key, i) => {
      const slot = calculateSlot(this.k(key));
      const list = groups.get(slot);
      if (list) list.push(i);
      else groups.set(slot, [i]);
    });
    return groups;
  }
}

async function execPipeline(pipeline: ChainableCommander): Promise<void> {
  const results = (await pipeline.exec()) ?? [];
  const failed = results.find(([error]) => error);
  if (failed) throw failed[0];
}

const score = (n: number): string => (n === Infinity ? '+inf' : n === -Infinity ? '-inf' : String(n));

/** RESP3 gives a map, RESP2 a flat list: callers see one shape either way. */
function toRecord(reply: unknown): Record<string, string> {
  if (reply instanceof Map) return Object.fromEntries(reply);
  if (Array.isArray(reply)) {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
    return out;
  }
  return { ...(reply as Record<string, string>) };
}

/** XRANGE's `[[id, [field, value, ...]], ...]`; a field list Redis could not give (null) reads as no fields. */
function toStreamEntries(reply: unknown): StreamEntry[] {
  return ((reply as unknown[] | null) ?? []).map((item) => {
    const [id, list] = item as [unknown, unknown];
    return { id: String(id), fields: Array.isArray(list) || list instanceof Map ? toRecord(list) : {} };
  });
}

function toZEntries(reply: unknown): ZEntry[] {
  const list = reply as unknown[];
  if (list.length > 0 && Array.isArray(list[0])) return (list as [string, string | number][]).map(([member, s]) => ({ member: String(member), score: Number(s) }));
  const out: ZEntry[] = [];
  for (let i = 0; i + 1 < list.length; i += 2) out.push({ member: String(list[i]), score: Number(list[i + 1]) });
  return out;
}
