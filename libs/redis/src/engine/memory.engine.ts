import { compileGlob, type GlobMatcher } from './glob.util.js';
import { MemoryStore, StoreTypeError, type MemoryStoreStats } from './memory.store.js';
import type { ScriptDefinition, ScriptReply } from './script.types.js';
import type { StoreEngine } from './store-engine.port.js';
import type {
  EngineMode,
  MessageHandler,
  MsetEntry,
  PatternMessageHandler,
  SetOptions,
  Unsubscribe,
  ZEntry,
} from './store-engine.types.js';

export interface MemoryEngineOptions {
  maxEntries: number;
  maxBytes: number;
  /** Called when a subscriber's handler throws, so one bad handler cannot stop delivery to others. */
  onHandlerError?: (error: unknown, channel: string) => void;
}

/**
 * The in-process engine: the whole store when no Redis is configured, and the fallback while Redis
 * is away. Same semantics as Redis for every operation of the port (the contract suite proves it).
 */
export class MemoryEngine implements StoreEngine {
  readonly store: MemoryStore;
  private readonly channels = new Map<string, Set<MessageHandler>>();
  private readonly patterns = new Map<string, { regex: GlobMatcher; handlers: Set<PatternMessageHandler> }>();

  constructor(private readonly options: MemoryEngineOptions) {
    this.store = new MemoryStore(options.maxEntries, options.maxBytes);
  }

  /** On its own this engine is the store of record; as a fallback, `FallbackEngine` speaks for it. */
  mode(): EngineMode {
    return 'embedded';
  }

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

  stats(): MemoryStoreStats {
    return this.store.stats();
  }

  // Every method goes through `run` so a type error surfaces as a rejected promise, as with Redis.
  private run<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error instanceof StoreTypeError ? new Error(error.message) : error);
    }
  }

  get(key: string) {
    return this.run(() => this.store.get(key));
  }
  set(key: string, value: string, options: SetOptions = {}) {
    const written = this.run(() => this.store.set(key, value, options));
    const publish = options.publish;
    if (!publish) return written;
    return written.then(async (ok) => {
      if (ok) await this.publish(publish.channel, publish.message);
      return ok;
    });
  }
  mget(keys: readonly string[]) {
    return this.run(() => keys.map((k) => this.store.get(k)));
  }
  mset(entries: readonly MsetEntry[]) {
    return this.run(() => {
      for (const e of entries) this.store.set(e.key, e.value, { ttlMs: e.ttlMs });
    });
  }
  del(keys: readonly string[]) {
    return this.run(() => keys.reduce((n, k) => n + this.store.del(k), 0));
  }
  exists(key: string) {
    return this.run(() => this.store.exists(key));
  }
  pttl(key: string) {
    return this.run(() => this.store.pttl(key));
  }
  pexpire(key: string, ttlMs: number) {
    return this.run(() => this.store.pexpire(key, ttlMs));
  }
  incrBy(key: string, by: number) {
    return this.run(() => this.store.incrBy(key, by));
  }
  hget(key: string, field: string) {
    return this.run(() => this.store.hget(key, field));
  }
  hset(key: string, fields: Readonly<Record<string, string>>) {
    return this.run(() => this.store.hset(key, fields));
  }
  hgetall(key: string) {
    return this.run(() => this.store.hgetall(key));
  }
  hdel(key: string, fields: readonly string[]) {
    return this.run(() => this.store.hdel(key, fields));
  }
  sadd(key: string, members: readonly string[]) {
    return this.run(() => this.store.sadd(key, members));
  }
  srem(key: string, members: readonly string[]) {
    return this.run(() => this.store.srem(key, members));
  }
  smembers(key: string) {
    return this.run(() => this.store.smembers(key));
  }
  sismember(key: string, member: string) {
    return this.run(() => this.store.sismember(key, member));
  }
  zadd(key: string, entries: readonly ZEntry[]) {
    return this.run(() => this.store.zadd(key, entries));
  }
  zincrby(key: string, by: number, member: string) {
    return this.run(() => this.store.zincrby(key, by, member));
  }
  zrem(key: string, members: readonly string[]) {
    return this.run(() => this.store.zrem(key, members));
  }
  zscore(key: string, member: string) {
    return this.run(() => this.store.zscore(key, member));
  }
  zcard(key: string) {
    return this.run(() => this.store.zcard(key));
  }
  zrange(key: string, start: number, stop: number, options: { reverse?: boolean } = {}) {
    return this.run(() => this.store.zrange(key, start, stop, options.reverse));
  }
  zrangeByScore(key: string, min: number, max: number, options: { limit?: number } = {}) {
    return this.run(() => this.store.zrangeByScore(key, min, max, options.limit));
  }
  zremRangeByScore(key: string, min: number, max: number) {
    return this.run(() => this.store.zremRangeByScore(key, min, max));
  }

  // ---- collections: lists, hash size, multi-field reads, rank (issue 17) -------------------------
  lpush(key: string, values: readonly string[], options: { cap?: number } = {}) {
    return this.run(() => this.store.push(key, values, 'left', options.cap));
  }
  rpush(key: string, values: readonly string[], options: { cap?: number } = {}) {
    return this.run(() => this.store.push(key, values, 'right', options.cap));
  }
  lrange(key: string, start: number, stop: number) {
    return this.run(() => this.store.lrange(key, start, stop));
  }
  llen(key: string) {
    return this.run(() => this.store.llen(key));
  }
  ltrim(key: string, start: number, stop: number) {
    return this.run(() => this.store.ltrim(key, start, stop));
  }
  lrem(key: string, count: number, value: string) {
    return this.run(() => this.store.lrem(key, count, value));
  }
  hlen(key: string) {
    return this.run(() => this.store.hlen(key));
  }
  hmget(key: string, fields: readonly string[]) {
    return this.run(() => this.store.hmget(key, fields));
  }
  zrank(key: string, member: string, options: { reverse?: boolean } = {}) {
    return this.run(() => this.store.zrank(key, member, options.reverse));
  }
  // ---- end of collections ---------------------------------------------------------------------

  // ---- streams (message history, issue 16) ----------------------------------------------------
  xadd(key: string, fields: Readonly<Record<string, string>>, options: { maxLen?: number } = {}) {
    return this.run(() => this.store.xadd(key, fields, this.store.now(), options.maxLen));
  }
  xrange(key: string, start: string, end: string, options: { count?: number } = {}) {
    return this.run(() => this.store.xrange(key, start, end, options.count));
  }
  xrevrange(key: string, end: string, start: string, options: { count?: number } = {}) {
    return this.run(() => this.store.xrange(key, start, end, options.count, true));
  }
  xlen(key: string) {
    return this.run(() => this.store.xlen(key));
  }
  // ---- end of streams ---------------------------------------------------------------------------

  async *scan(pattern: string, options: { count?: number } = {}): AsyncIterable<string[]> {
    const regex = compileGlob(pattern);
    const matches = this.store.keys().filter((k) => regex.test(k));
    const count = options.count ?? 100;
    for (let i = 0; i < matches.length; i += count) yield matches.slice(i, i + count);
  }

  runScript(script: ScriptDefinition, keys: readonly string[], args: readonly (string | number)[]): Promise<ScriptReply> {
    if (keys.length !== script.numberOfKeys) {
      return Promise.reject(new Error(`script ${script.name} takes ${script.numberOfKeys} keys (got ${keys.length})`));
    }
    return this.run(() => script.twin(this.store, keys, args.map(String), this.store.now()));
  }

  time() {
    return Promise.resolve(this.store.now());
  }
  ping() {
    return Promise.resolve(0);
  }
  /** No replicas in process: nothing is ever acknowledged by one. */
  wait(_replicas: number, _timeoutMs: number) {
    return Promise.resolve(0);
  }

  publish(channel: string, message: string): Promise<number> {
    const direct = [...(this.channels.get(channel) ?? [])];
    const byPattern = [...this.patterns].filter(([, p]) => p.regex.test(channel));
    const receivers = direct.length + byPattern.reduce((n, [, p]) => n + p.handlers.size, 0);
    // Delivered on a later tick, as Redis would: a publisher never runs subscriber code inline.
    if (receivers > 0) {
      setImmediate(() => {
        for (const h of direct) this.deliver(channel, () => h(message, channel));
        for (const [pattern, p] of byPattern) for (const h of p.handlers) this.deliver(channel, () => h(message, channel, pattern));
      });
    }
    return Promise.resolve(receivers);
  }

  subscribe(channel: string, handler: MessageHandler): Promise<Unsubscribe> {
    const set = this.channels.get(channel) ?? new Set();
    set.add(handler);
    this.channels.set(channel, set);
    return Promise.resolve(async () => {
      set.delete(handler);
      if (set.size === 0 && this.channels.get(channel) === set) this.channels.delete(channel);
    });
  }

  psubscribe(pattern: string, handler: PatternMessageHandler): Promise<Unsubscribe> {
    const entry = this.patterns.get(pattern) ?? { regex: compileGlob(pattern), handlers: new Set() };
    entry.handlers.add(handler);
    this.patterns.set(pattern, entry);
    return Promise.resolve(async () => {
      entry.handlers.delete(handler);
      if (entry.handlers.size === 0 && this.patterns.get(pattern) === entry) this.patterns.delete(pattern);
    });
  }

  clear() {
    return this.run(() => this.store.clear());
  }

  async close(): Promise<void> {
    this.channels.clear();
    this.patterns.clear();
    this.store.clear();
  }

  private deliver(channel: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.options.onHandlerError?.(error, channel);
    }
  }
}
