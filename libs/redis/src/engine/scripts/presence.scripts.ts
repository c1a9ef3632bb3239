import type { MemoryStore } from '../memory.store.js';
import { defineScript, type ScriptReply } from '../script.registry.js';

/**
 * Presence scripts (see the .lua headers). Every entry is scored by its expiry on the store's clock
 * (`nowMs` stands in for Redis `TIME`), so no instance's local clock decides what is live.
 */

/** Lua's table.sort on strings compares bytes; so must the twin. */
const bytewise = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** The twin of includes/presence-apply.lua. */
function apply(store: MemoryStore, set: string, args: readonly string[], now: number): { live: number; top: number; reply: ScriptReply[] } {
  const [ttl, withMembers, nadd] = args;
  const n = Number(nadd);
  store.zremRangeByScore(set, -Infinity, now);
  const expires = now + Number(ttl);
  for (const member of args.slice(3, 3 + n)) store.zadd(set, [{ member, score: expires }]);
  const removes = args.slice(3 + n);
  if (removes.length > 0) store.zrem(set, removes);
  // Read in full before the expiry is set: Lua's clock stands still for the whole script, the
  // memory store's does not, and a 1 ms set could lapse between two reads here.
  const entries = store.zrange(set, 0, -1);
  const live = entries.length;
  const top = live > 0 ? entries[live - 1]!.score : 0;
  if (live > 0) store.pexpire(set, Math.max(1, top - now));
  const reply: ScriptReply[] = [live];
  if (withMembers === '1') reply.push(...entries.map((e) => e.member).sort(bytewise));
  return { live, top, reply };
}

export const PRESENCE_SYNC = defineScript({
  name: 'presence-sync',
  version: 1,
  file: 'presence-sync.lua',
  twin: (store, [set], args, now): ScriptReply => apply(store, set!, args, now).reply,
});

export const PRESENCE_USER = defineScript({
  name: 'presence-user',
  version: 1,
  file: 'presence-user.lua',
  twin: (store, [set, status], args, now): ScriptReply => {
    // Read before the set is written: on this clock a status about to lapse could be gone after.
    const current = store.get(status!);
    const { live, top, reply } = apply(store, set!, args, now);
    if (live === 0) store.del(status!);
    else {
      store.pexpire(status!, Math.max(1, top - now));
      if (args[1] === '2' && current !== null) reply.push(current);
    }
    return reply;
  },
});

export const PRESENCE_STATUS = defineScript({
  name: 'presence-status',
  version: 1,
  file: 'presence-status.lua',
  twin: (store, [set, status], [write, value], now): ScriptReply => {
    // The status first: read after the set, a status about to lapse could be gone on this clock.
    const current = store.get(status!);
    store.zremRangeByScore(set!, -Infinity, now);
    const last = store.zrange(set!, -1, -1)[0];
    if (last === undefined) {
      store.del(status!);
      return [0];
    }
    const ttl = Math.max(1, last.score - now);
    if (write === '1' || (write === '2' && current === null)) {
      store.set(status!, value!, { ttlMs: ttl });
      return [1, value!];
    }
    return current === null ? [1] : [1, current];
  },
});
