import { EventEmitter } from 'node:events';
import type { Op, WriteSpec } from './fallback.journal.js';
import type { FallbackEngineEvents } from './fallback.types.js';
import type { ScriptDefinition } from './script.types.js';
import type { CallOptions, MsetEntry, ScriptOptions, SetOptions, WriteOptions, ZEntry } from './store-engine.types.js';

/**
 * The store port's commands, each handed to `exec` with the keys it writes (the journal keeps two
 * writes to one key in order, and lets deletes of one key share a batch). Kept apart so that
 * `FallbackEngine` reads as the breaker: every decision is in its `exec`, none is here.
 */
export abstract class FallbackPort extends EventEmitter<FallbackEngineEvents> {
  protected abstract exec<T>(op: Op<T>, options?: WriteOptions, write?: WriteSpec): Promise<T>;

  get(key: string, options?: CallOptions) {
    return this.exec((e) => e.get(key), options);
  }
  set(key: string, value: string, options?: SetOptions) {
    return this.exec((e) => e.set(key, value, options), options, forgetOnReplay([key], options));
  }
  mget(keys: readonly string[], options?: CallOptions) {
    return this.exec((e) => e.mget(keys), options);
  }
  mset(entries: readonly MsetEntry[], options?: WriteOptions) {
    return this.exec((e) => e.mset(entries), options, forgetOnReplay(entries.map((x) => x.key), options));
  }
  del(keys: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.del(keys), options, { keys, commutes: true });
  }
  exists(key: string, options?: CallOptions) {
    return this.exec((e) => e.exists(key), options);
  }
  pttl(key: string, options?: CallOptions) {
    return this.exec((e) => e.pttl(key), options);
  }
  pexpire(key: string, ttlMs: number, options?: WriteOptions) {
    return this.exec((e) => e.pexpire(key, ttlMs), options, { keys: [key] });
  }
  incrBy(key: string, by: number, options?: WriteOptions) {
    return this.exec((e) => e.incrBy(key, by), options, { keys: [key] });
  }
  hget(key: string, field: string, options?: CallOptions) {
    return this.exec((e) => e.hget(key, field), options);
  }
  hset(key: string, fields: Readonly<Record<string, string>>, options?: WriteOptions) {
    return this.exec((e) => e.hset(key, fields), options, { keys: [key] });
  }
  hgetall(key: string, options?: CallOptions) {
    return this.exec((e) => e.hgetall(key), options);
  }
  hdel(key: string, fields: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.hdel(key, fields), options, { keys: [key] });
  }
  sadd(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.sadd(key, members), options, { keys: [key] });
  }
  srem(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.srem(key, members), options, { keys: [key] });
  }
  smembers(key: string, options?: CallOptions) {
    return this.exec((e) => e.smembers(key), options);
  }
  sismember(key: string, member: string, options?: CallOptions) {
    return this.exec((e) => e.sismember(key, member), options);
  }
  zadd(key: string, entries: readonly ZEntry[], options?: WriteOptions) {
    return this.exec((e) => e.zadd(key, entries), options, { keys: [key] });
  }
  zincrby(key: string, by: number, member: string, options?: WriteOptions) {
    return this.exec((e) => e.zincrby(key, by, member), options, { keys: [key] });
  }
  zrem(key: string, members: readonly string[], options?: WriteOptions) {
    return this.exec((e) => e.zrem(key, members), options, { keys: [key] });
  }
  zscore(key: string, member: string, options?: CallOptions) {
    return this.exec((e) => e.zscore(key, member), options);
  }
  zcard(key: string, options?: CallOptions) {
    return this.exec((e) => e.zcard(key), options);
  }
  zrange(key: string, start: number, stop: number, options?: { reverse?: boolean } & CallOptions) {
    return this.exec((e) => e.zrange(key, start, stop, options), options);
  }
  zrangeByScore(key: string, min: number, max: number, options?: { limit?: number } & CallOptions) {
    return this.exec((e) => e.zrangeByScore(key, min, max, options), options);
  }
  zremRangeByScore(key: string, min: number, max: number, options?: WriteOptions) {
    return this.exec((e) => e.zremRangeByScore(key, min, max), options, { keys: [key] });
  }
  // ---- collections: lists, hash size, multi-field reads, rank (issue 17) -------------------------
  lpush(key: string, values: readonly string[], options?: { cap?: number } & WriteOptions) {
    return this.exec((e) => e.lpush(key, values, { cap: options?.cap }), options);
  }
  rpush(key: string, values: readonly string[], options?: { cap?: number } & WriteOptions) {
    return this.exec((e) => e.rpush(key, values, { cap: options?.cap }), options);
  }
  lrange(key: string, start: number, stop: number, options?: CallOptions) {
    return this.exec((e) => e.lrange(key, start, stop), options);
  }
  llen(key: string, options?: CallOptions) {
    return this.exec((e) => e.llen(key), options);
  }
  ltrim(key: string, start: number, stop: number, options?: WriteOptions) {
    return this.exec((e) => e.ltrim(key, start, stop), options);
  }
  lrem(key: string, count: number, value: string, options?: WriteOptions) {
    return this.exec((e) => e.lrem(key, count, value), options);
  }
  hlen(key: string, options?: CallOptions) {
    return this.exec((e) => e.hlen(key), options);
  }
  hmget(key: string, fields: readonly string[], options?: CallOptions) {
    return this.exec((e) => e.hmget(key, fields), options);
  }
  zrank(key: string, member: string, options?: { reverse?: boolean } & CallOptions) {
    return this.exec((e) => e.zrank(key, member, options), options);
  }
  // ---- end of collections ---------------------------------------------------------------------
  // ---- streams (message history, issue 16) ----------------------------------------------------
  xadd(key: string, fields: Readonly<Record<string, string>>, options?: { maxLen?: number } & WriteOptions) {
    return this.exec((e) => e.xadd(key, fields, { maxLen: options?.maxLen }), options, { keys: [key] });
  }
  xrange(key: string, start: string, end: string, options?: { count?: number } & CallOptions) {
    return this.exec((e) => e.xrange(key, start, end, { count: options?.count }), options);
  }
  xrevrange(key: string, end: string, start: string, options?: { count?: number } & CallOptions) {
    return this.exec((e) => e.xrevrange(key, end, start, { count: options?.count }), options);
  }
  xlen(key: string, options?: CallOptions) {
    return this.exec((e) => e.xlen(key), options);
  }
  // ---- end of streams ---------------------------------------------------------------------------
  runScript(script: ScriptDefinition, keys: readonly string[], args: readonly (string | number)[], options?: ScriptOptions) {
    const replayArgs = options?.replayArgs;
    return this.exec((e) => e.runScript(script, keys, args), options, {
      keys,
      script,
      replay: replayArgs ? async (e, replay) => e.runScript(script, keys, await replayArgs(replay, e)) : undefined,
    });
  }
  time(options?: CallOptions) {
    return this.exec((e) => e.time(), options);
  }
  publish(channel: string, message: string, options?: CallOptions) {
    return this.exec((e) => e.publish(channel, message), options);
  }
}

/** The journal entry of a write that recovery turns into a delete when asked (`replayAs: 'delete'`). */
function forgetOnReplay(keys: readonly string[], options: WriteOptions | undefined): WriteSpec {
  if (options?.replayAs !== 'delete') return { keys };
  return { keys, commutes: true, replay: (e) => e.del(keys) };
}
