import { defineScript } from '../script.registry.js';
import type { ScriptReply } from '../script.types.js';
import type { MemoryStore } from '../memory.store.js';

/** Atomic operations of the collections (maps, sets, leaderboards, lists, migration batches). */

/** The reply of a replayed write that someone else's newer write on Redis supersedes. */
export const COLLECTION_CONFLICT = 'CONFLICT';

/**
 * Whether a last-write marker (`"<ms>:<writer>"`, a collection's or a tenant's) says someone other
 * than `writer` wrote after `since`, so a replay from `writer`'s outage must not land. A marker that
 * cannot be read says so too: nothing proves the replay is safe.
 */
export function markedSinceByOther(marker: string, writer: string, since: number): boolean {
  const m = /^(\d+):(.*)$/s.exec(marker);
  return !m || (m[2] !== writer && Number(m[1]) > since);
}

/**
 * Twin of collection-write.lua: the same write, marker and conflict rule on the memory store, with
 * `nowMs` for Redis TIME. Throws where the Lua replies an error.
 */
function collectionWrite(store: MemoryStore, keys: readonly string[], args: readonly string[], now: number): ScriptReply {
  const [mark, key] = keys as [string, string];
  const [op, writer, since, life, overwrite, ttl, ...items] = args as [string, string, string, string, string, string, ...string[]];
  if (since === 'cleared') throw new Error(`${COLLECTION_CONFLICT} the collection's tenant was cleared on Redis since this write's outage began`);
  if (since !== '') {
    const last = store.get(mark);
    if (last !== null) {
      if (markedSinceByOther(last, writer, Number(since))) throw new Error(`${COLLECTION_CONFLICT} the collection was written on Redis since this write's outage began`);
    } else if (Number(since) < now - Number(life)) {
      throw new Error(`${COLLECTION_CONFLICT} the outage began before the collection's last-write marker can tell`);
    }
  }
  store.set(mark, `${now}:${writer}`, { ttlMs: Number(life) });
  let n = 0;
  switch (op) {
    case 'hset':
      for (let i = 0; i + 1 < items.length; i += 2) {
        if (overwrite !== '1' && store.hget(key, items[i]!) !== null) continue;
        store.hset(key, { [items[i]!]: items[i + 1]! });
        n++;
      }
      return n;
    case 'zadd':
      for (let i = 0; i + 1 < items.length; i += 2) n += store.zadd(key, [{ member: items[i + 1]!, score: Number(items[i]) }]);
      return n;
    // One command per item, as the Lua does: a repeated item counts once.
    case 'hdel':
    case 'sadd':
    case 'srem':
    case 'zrem':
      for (const item of items) n += store[op](key, [item]);
      return n;
    case 'lpush': {
      const cap = Number(ttl);
      return store.push(key, items, 'left', cap > 0 ? cap : undefined);
    }
    case 'lrem':
      return store.lrem(key, 0, items[0]!);
    case 'set':
      return store.set(key, items[0]!, { ttlMs: Number(ttl), nx: overwrite !== '1' }) ? 1 : 0;
    case 'del':
      return store.del(key);
    case 'touch':
      return 0;
    default:
      throw new Error(`ERR collection-write: unknown operation ${op}`);
  }
}

export const COLLECTION_WRITE = defineScript({
  name: 'collection-write',
  version: 1,
  file: 'collection-write.lua',
  twin: collectionWrite,
});
