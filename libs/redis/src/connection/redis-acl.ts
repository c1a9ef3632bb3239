/**
 * The least-privilege Redis ACL for this library: exactly the commands it sends, on its own key
 * prefix and channels. Derived from `engine/redis.engine.ts` (the port on ioredis), the Lua scripts in
 * `engine/scripts/` (commands called inside a script are checked too), the health probe
 * (`health/redis-health.probe.ts`) and what ioredis itself sends (ready check, cluster discovery).
 * `docs/operations.md` shows the rule this produces; the ACL test suite runs the engine contract and
 * every capability under it.
 */
export const REDIS_ACL_COMMANDS = {
  /** Strings, counters, expiry (engine + scripts). */
  strings: ['get', 'set', 'mget', 'incrby', 'exists', 'pttl', 'pexpire', 'persist', 'unlink', 'del'],
  /** Lists (collections: capped push, range, trim, remove; push and trim in one MULTI). */
  lists: ['lpush', 'rpush', 'lrange', 'llen', 'ltrim', 'lrem', 'multi', 'exec'],
  /** Hashes (engine + session scripts). */
  hashes: ['hget', 'hset', 'hsetnx', 'hgetall', 'hdel', 'hmget', 'hlen'],
  /** Sets (engine). */
  sets: ['sadd', 'srem', 'smembers', 'sismember'],
  /** Sorted sets (engine + session and rate-limit scripts). */
  sortedSets: ['zadd', 'zincrby', 'zrem', 'zscore', 'zcard', 'zcount', 'zrange', 'zrangebyscore', 'zremrangebyscore', 'zrank', 'zrevrank'],
  /** Streams (message history: capped append inside its script, last N, since an id, length). */
  streams: ['xadd', 'xrange', 'xrevrange', 'xlen'],
  /** Atomic operations: ioredis sends EVALSHA and falls back to EVAL once after NOSCRIPT. */
  scripts: ['evalsha', 'eval'],
  /** `invalidatePattern`, `clear()`: SCAN with MATCH on the prefix (never KEYS). */
  keyspace: ['scan'],
  /** Pub/sub (cache invalidation bus, PubSubService). */
  pubsub: ['publish', 'subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe'],
  /**
   * The server itself: PING (breaker probe, health), TIME (server clock for decisions), INFO (ioredis'
   * ready check, health probe: memory, replication, maxmemory_policy), WAIT (`durability:
   * 'replicated'`), QUIT (graceful close).
   */
  server: ['ping', 'time', 'info', 'wait', 'quit'],
  /** Server figures for `nestjs-redis-kit/metrics` and the status page: key count, a bounded key sample, slow commands. */
  observability: ['dbsize', 'randomkey', 'slowlog|get'],
} as const;

/** Only on Redis Cluster: slot discovery (ioredis) and `cluster_state` (health probe). */
export const REDIS_ACL_CLUSTER_COMMANDS = ['cluster|slots', 'cluster|info'] as const;

/** What `redisAclRule` needs to build a least-privilege ACL rule for this library's Redis user. */
export interface RedisAclRuleOptions {
  /** The module's `keyPrefix`; the user is limited to keys and channels under it. Required: an ACL user without a prefix can touch every key. */
  keyPrefix: string;
  /** Add CLUSTER SLOTS / CLUSTER INFO (Redis Cluster). */
  cluster?: boolean;
  /** `db` other than 0 needs SELECT. */
  selectDb?: boolean;
  /**
   * `PubSubService.psubscribe` patterns (without the prefix): Redis matches a PSUBSCRIBE pattern
   * against the ACL literally, so each pattern the application uses is listed as it is.
   */
  patterns?: readonly string[];
}

/**
 * The ACL rule (everything after `ACL SETUSER <name> on >password`) for a user of this library, e.g.
 * `resetkeys ~app:* resetchannels &app:* -@all +get +set ...`. Put it in an ACL file or run it with
 * `ACL SETUSER`.
 */
export function redisAclRule(options: RedisAclRuleOptions): string {
  const prefix = options.keyPrefix;
  if (typeof prefix !== 'string' || prefix === '') throw new Error('redisAclRule: keyPrefix is required (a user without one can read and write every key)');
  if (/[\s{}*?[\]\\]/.test(prefix)) throw new Error('redisAclRule: keyPrefix must not contain spaces or {}*?[]\\');
  const commands: string[] = Object.values(REDIS_ACL_COMMANDS).flat();
  if (options.cluster) commands.push(...REDIS_ACL_CLUSTER_COMMANDS);
  if (options.selectDb) commands.push('select');
  const patterns = (options.patterns ?? []).map((p) => `&${prefix}${p}`);
  return ['resetkeys', `~${prefix}*`, 'resetchannels', `&${prefix}*`, ...patterns, '-@all', ...commands.map((c) => `+${c}`)].join(' ');
}

/**
 * The ACL rule for the user the library logs in to the *sentinels* with (`REDIS_SENTINEL_USERNAME`):
 * what ioredis asks a sentinel for — the master address, the list of sentinels, and the
 * `+switch-master` channel it follows for failovers — and nothing else. Sentinels hold no data: no key
 * pattern. Tested: the sentinel's ACL LOG stays empty while the app discovers the master with it.
 */
export const REDIS_SENTINEL_ACL_RULE = '-@all +ping +sentinel|get-master-addr-by-name +sentinel|sentinels +subscribe resetchannels &+switch-master';
