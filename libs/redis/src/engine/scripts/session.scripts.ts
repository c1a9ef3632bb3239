import type { MemoryStore } from '../memory.store.js';
import { defineScript, type ScriptDefinition, type ScriptReply } from '../script.registry.js';

/**
 * Session and deny-list scripts (see the .lua headers for keys, arguments and replies). Each twin
 * mirrors its Lua line by line against the memory store; `nowMs` stands in for Redis `TIME`. Every
 * key a script touches arrives in KEYS: none is derived inside a script (Cluster slot migration,
 * key-routing proxies and Dragonfly route by the declared keys).
 */

const num = (text: string | null): number => Number(text);
/** What Lua's tonumber reads as a number (a blank or non-numeric field is nil there). */
const numeric = (text: string | undefined): boolean => text !== undefined && text.trim() !== '' && Number.isFinite(Number(text));

/** The index lives as long as its longest-lived entry, so a user who never returns leaves nothing behind. */
function fitIndexTtl(store: MemoryStore, idx: string, now: number): void {
  const [top] = store.zrange(idx, -1, -1);
  store.pexpire(idx, Math.max(1, top!.score - now));
}

export const SESSION_CREATE = defineScript({
  name: 'session-create',
  version: 3,
  file: 'session-create.lua',
  twin: (store, [idx, s, r, f, live, ep], args, now): ScriptReply => {
    const [h, rh, fam, idleText, absText, capText, origin, uid, ua, ip, data, notBefore] = args as string[];
    if (notBefore !== undefined && notBefore !== '' && num(store.get(ep!) ?? '-1') > num(notBefore)) return [-3];
    const idle = num(idleText!);
    const created = origin !== '' ? Math.min(num(origin!), now) : now;
    const abs = created + num(absText!);
    const exp = Math.min(now + idle, abs);
    if (exp <= now) return [0];
    if (store.exists(s!) || store.exists(r!) || store.exists(f!)) return [0];
    store.zremRangeByScore(idx!, -Infinity, now);
    store.zremRangeByScore(live!, -Infinity, now);
    const reply: ScriptReply[] = [1, created, exp, abs, 0];
    const cap = num(capText!);
    if (cap > 0) {
      while (store.zcard(idx!) >= cap) {
        const victim = store.zrange(idx!, 0, 0)[0]!.member;
        store.zrem(idx!, [victim]);
        store.zrem(live!, [victim]);
        reply[4] = (reply[4] as number) + 1;
        reply.push(victim);
      }
    }
    store.hset(s!, {
      uid: uid!,
      ua: ua!,
      ip: ip!,
      data: data!,
      ca: String(created),
      ls: String(now),
      exp: String(exp),
      abs: String(abs),
      idle: String(idle),
      fam: fam!,
      rh: rh!,
      sid: h!,
    });
    store.pexpire(s!, exp - now);
    store.set(f!, h!, { ttlMs: abs - now });
    store.set(r!, `c:${fam}:${h}`, { ttlMs: abs - now });
    store.zadd(idx!, [{ member: h!, score: exp }]);
    fitIndexTtl(store, idx!, now);
    store.zadd(live!, [{ member: h!, score: exp }]);
    if (store.pttl(ep!) < abs - now) store.set(ep!, store.get(ep!) ?? '0', { ttlMs: abs - now });
    return reply;
  },
});

/** Ends a session found dead by touch: record, index entry, live entry. */
function drop(store: MemoryStore, s: string, idx: string, live: string, h: string): void {
  store.del(s);
  store.zrem(idx, [h]);
  store.zrem(live, [h]);
}

export const SESSION_TOUCH = defineScript({
  name: 'session-touch',
  version: 2,
  file: 'session-touch.lua',
  twin: (store, [s, idx, live], [h, slide, throttle], now): ScriptReply => {
    const v = store.hgetall(s!);
    const indexed = store.zscore(idx!, h!);
    if (v.uid === undefined || indexed === null) {
      drop(store, s!, idx!, live!, h!);
      return [0];
    }
    let ls = num(v.ls!);
    let exp = num(v.exp!);
    const abs = num(v.abs!);
    const idle = num(v.idle!);
    if (![v.ls, v.exp, v.abs, v.idle].every(numeric) || now >= exp || now >= abs) {
      drop(store, s!, idx!, live!, h!);
      return [0];
    }
    if (slide === '1' && now - ls >= num(throttle!)) {
      ls = now;
      exp = Math.min(now + idle, abs);
      store.hset(s!, { ls: String(ls), exp: String(exp) });
      store.pexpire(s!, exp - now);
      store.zadd(idx!, [{ member: h!, score: exp }]);
      fitIndexTtl(store, idx!, now);
      store.zadd(live!, [{ member: h!, score: exp }]);
    }
    return [1, v.uid, v.ua!, v.ip!, v.data!, num(v.ca!), ls, exp, abs, v.sid!];
  },
});

export const SESSION_REVOKE = defineScript({
  name: 'session-revoke',
  version: 2,
  file: 'session-revoke.lua',
  twin: (store, [s, idx, live], [h]): ScriptReply => {
    const fam = store.hget(s!, 'fam');
    const rh = store.hget(s!, 'rh');
    const removed = store.del(s!);
    const indexed = store.zrem(idx!, [h!]);
    store.zrem(live!, [h!]);
    return [removed === 1 && indexed === 1 ? 1 : 0, fam ?? '', rh ?? ''];
  },
});

export const SESSION_FORGET = defineScript({
  name: 'session-forget',
  version: 1,
  file: 'session-forget.lua',
  twin: (store, [f, r], [h, fam]): ScriptReply => {
    let n = 0;
    if (store.get(f!) === h) n += store.del(f!);
    if (store.get(r!) === `c:${fam}:${h}`) n += store.del(r!);
    return n;
  },
});

const SESSION_REVOKE_ALL_BASE = defineScript({
  name: 'session-revoke-all',
  version: 3,
  file: 'session-revoke-all.lua',
  twin: (store, keys, args, now): ScriptReply => {
    const [idx, live, epKey, ...records] = keys;
    const [keep, since, holdText, ...hashes] = args as string[];
    const ep = Math.max(since !== '' ? num(since!) : now, num(store.get(epKey!) ?? '-1'));
    store.set(epKey!, String(ep), { ttlMs: Math.max(num(holdText!), store.pttl(epKey!), 1) });
    const declared = new Set(hashes);
    let removed = 0;
    const forget: string[] = [];
    const undeclared: string[] = [];
    for (const { member: h, score } of store.zrange(idx!, 0, -1)) {
      if (h === keep) continue;
      store.zrem(idx!, [h]);
      store.zrem(live!, [h]);
      if (score > now) removed++;
      if (!declared.has(h)) undeclared.push(h);
    }
    records.forEach((s, i) => {
      const h = hashes[i]!;
      if (h === keep) return;
      const fam = store.hget(s, 'fam');
      const rh = store.hget(s, 'rh');
      if (store.del(s) === 1) forget.push(h, fam ?? '', rh ?? '');
    });
    return [removed, forget, undeclared];
  },
});

const SESSION_LIST_BASE = defineScript({
  name: 'session-list',
  version: 2,
  file: 'session-list.lua',
  twin: (store, keys, hashes, now): ScriptReply => {
    const [idx, live, ...records] = keys;
    store.zremRangeByScore(idx!, -Infinity, now);
    const out: ScriptReply[] = [];
    let seen = 0;
    records.forEach((s, i) => {
      const h = hashes[i]!;
      if (store.zscore(idx!, h) === null) return;
      seen++;
      const v = store.hgetall(s);
      if (v.ua !== undefined && [v.ca, v.ls, v.exp, v.abs].every(numeric) && now < num(v.exp!) && now < num(v.abs!)) {
        out.push([h, v.ua, v.ip!, v.data!, num(v.ca!), num(v.ls!), num(v.exp!), num(v.abs!)]);
      } else if (v.ua === undefined) {
        store.zrem(idx!, [h]);
        store.zrem(live!, [h]);
        seen--;
      }
    });
    return [store.zcard(idx!) === seen ? 1 : 0, out];
  },
});

/**
 * revokeAll and list declare one key per session they saw in the index (plus the index and the live
 * set). ioredis' defineCommand fixes the key count per command, so each count gets its own command
 * name over the same Lua (one SHA on the server).
 */
function withSessionKeys(base: ScriptDefinition, fixedKeys: number): (sessions: number) => ScriptDefinition {
  const variants = new Map<number, ScriptDefinition>();
  return (sessions) => {
    if (!Number.isInteger(sessions) || sessions < 0) throw new RangeError(`${base.name} takes a non-negative number of sessions (got ${sessions})`);
    let script = variants.get(sessions);
    if (!script) {
      script = { ...base, numberOfKeys: fixedKeys + sessions, commandName: `${base.commandName}_k${fixedKeys + sessions}` };
      variants.set(sessions, script);
    }
    return script;
  };
}

/** KEYS: index, live set, revocation epoch, then the n session records. */
export const sessionRevokeAllScript = withSessionKeys(SESSION_REVOKE_ALL_BASE, 3);
/** KEYS: index, live set, then the n session records. */
export const sessionListScript = withSessionKeys(SESSION_LIST_BASE, 2);
/** The definitions as written (one key standing for the n session records), for script listings. */
export const SESSION_REVOKE_ALL = SESSION_REVOKE_ALL_BASE;
export const SESSION_LIST = SESSION_LIST_BASE;

function parseRetired(record: string): { fam: string; graceEnd?: number; granted?: string; sealed?: string } {
  if (record.startsWith('g:')) {
    const m = /^g:([^:]+):(\d+):([^:]+):(.+)$/.exec(record);
    if (m) return { fam: m[1]!, graceEnd: Number(m[2]), granted: m[3]!, sealed: m[4]! };
  }
  return { fam: record.slice(2) };
}

export const SESSION_REFRESH = defineScript({
  name: 'session-refresh',
  version: 2,
  file: 'session-refresh.lua',
  twin: (store, [r, f, s, idx, live, ns, nr], [presented, expectedRecord, expectedCurrent, nh, nrh, graceText, sealedNew], now): ScriptReply => {
    const record = store.get(r!);
    if (record === null) return [0];
    if (record !== expectedRecord) return [-3];
    const current = store.get(f!) ?? '';
    const state = record.slice(0, 1);
    if (state !== 'c') {
      if (current !== expectedCurrent) return [-3];
      const exp = store.hget(s!, 'exp');
      const absText = store.hget(s!, 'abs');
      const rh = store.hget(s!, 'rh');
      const uid = store.hget(s!, 'uid');
      if (state === 'g') {
        const g = parseRetired(record);
        if (
          g.graceEnd !== undefined &&
          now < g.graceEnd &&
          current === g.granted &&
          numeric(exp ?? undefined) &&
          numeric(absText ?? undefined) &&
          store.zscore(idx!, current) !== null &&
          now < num(exp) &&
          now < num(absText)
        ) {
          return [2, g.sealed!, num(exp), num(absText)];
        }
      }
      if (current === '') return [-1, 0, '', '', ''];
      const removed = store.del(s!);
      const indexed = store.zrem(idx!, [current]);
      store.zrem(live!, [current]);
      store.del(f!);
      return [-1, removed === 1 && indexed === 1 ? 1 : 0, current, rh ?? '', uid ?? ''];
    }
    const m = /^c:([^:]+):(.+)$/.exec(record)!;
    const fam = m[1]!;
    const h = m[2]!;
    const v = store.hgetall(s!);
    if (
      current !== h ||
      v.uid === undefined ||
      store.zscore(idx!, h) === null ||
      v.rh !== presented ||
      ![v.exp, v.abs, v.idle].every(numeric) ||
      now >= num(v.exp!) ||
      now >= num(v.abs!)
    ) {
      if (current === h) {
        store.del(s!);
        store.del(f!);
        store.zrem(idx!, [h]);
        store.zrem(live!, [h]);
      }
      store.del(r!);
      return [0];
    }
    if (store.exists(ns!) || store.exists(nr!)) return [-2];
    const abs = num(v.abs!);
    const idle = num(v.idle!);
    const exp = Math.min(now + idle, abs);
    store.hset(ns!, {
      uid: v.uid,
      ua: v.ua!,
      ip: v.ip!,
      data: v.data!,
      ca: v.ca!,
      ls: String(now),
      exp: String(exp),
      abs: String(abs),
      idle: String(idle),
      fam,
      rh: nrh!,
      sid: nh!,
    });
    store.pexpire(ns!, exp - now);
    store.del(s!);
    store.zrem(idx!, [h]);
    store.zadd(idx!, [{ member: nh!, score: exp }]);
    fitIndexTtl(store, idx!, now);
    store.zrem(live!, [h]);
    store.zadd(live!, [{ member: nh!, score: exp }]);
    store.set(f!, nh!, { ttlMs: abs - now });
    const grace = num(graceText!);
    const retired = grace > 0 ? `g:${fam}:${now + grace}:${nh}:${sealedNew}` : `x:${fam}`;
    store.set(r!, retired, { ttlMs: abs - now });
    store.set(nr!, `c:${fam}:${nh}`, { ttlMs: abs - now });
    return [1, num(v.ca!), exp, abs];
  },
});

export const SESSION_COUNT = defineScript({
  name: 'session-count',
  version: 1,
  file: 'session-count.lua',
  twin: (store, keys, _args, now) => keys.reduce((total, live) => total + store.zrangeByScore(live, now + 1, Infinity).length, 0),
});

const countVariants = new Map<number, ScriptDefinition>();
/** The count script over `groups` live sets (one command name per key count, one SHA). */
export function sessionCountScript(groups: number): ScriptDefinition {
  if (groups === 1) return SESSION_COUNT;
  let script = countVariants.get(groups);
  if (!script) {
    script = { ...SESSION_COUNT, numberOfKeys: groups, commandName: `${SESSION_COUNT.commandName}_k${groups}` };
    countVariants.set(groups, script);
  }
  return script;
}

export const DENYLIST_ADD = defineScript({
  name: 'denylist-add',
  version: 2,
  file: 'denylist-add.lua',
  twin: (store, [key], [expText, skewText], now) => {
    const ttl = num(expText!) + num(skewText!) - now;
    if (ttl <= 0) return 0;
    if (store.pttl(key!) >= ttl) return 1;
    store.set(key!, '1', { ttlMs: ttl });
    return 1;
  },
});
