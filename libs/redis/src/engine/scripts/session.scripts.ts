import type { MemoryStore } from '../memory.store.js';
import { defineScript, type ScriptReply } from '../script.registry.js';

/**
 * Session and deny-list scripts (see the .lua headers for keys, arguments and replies). Each twin
 * mirrors its Lua line by line against the memory store; `nowMs` stands in for Redis `TIME`.
 */

const num = (text: string | null): number => Number(text);

/** Removes one session and what points at it; 1 when the session existed. */
function kill(store: MemoryStore, base: string, h: string): number {
  const s = `${base}s:${h}`;
  const fam = store.hget(s, 'fam');
  const rh = store.hget(s, 'rh');
  const n = store.del(s);
  store.zrem(`${base}idx`, [h]);
  if (fam !== null) {
    const f = `${base}f:${fam}`;
    if (store.get(f) === h) store.del(f);
  }
  if (rh !== null) store.del(`${base}r:${rh}`);
  return n;
}

/** The index lives as long as its longest-lived entry, so a user who never returns leaves nothing behind. */
function fitIndexTtl(store: MemoryStore, idx: string, now: number): void {
  const [top] = store.zrange(idx, -1, -1);
  store.pexpire(idx, Math.max(1, top!.score - now));
}

export const SESSION_CREATE = defineScript({
  name: 'session-create',
  version: 1,
  file: 'session-create.lua',
  twin: (store, [base], args, now): ScriptReply => {
    const [h, rh, fam, idleText, absText, capText, origin, uid, ua, ip, data] = args as string[];
    const idx = `${base}idx`;
    const idle = num(idleText!);
    const created = origin !== '' ? Math.min(num(origin!), now) : now;
    const abs = created + num(absText!);
    const exp = Math.min(now + idle, abs);
    if (exp <= now) return [0];
    const s = `${base}s:${h}`;
    if (store.exists(s) || store.exists(`${base}r:${rh}`) || store.exists(`${base}f:${fam}`)) return [0];
    store.zremRangeByScore(idx, -Infinity, now);
    let evicted = 0;
    const cap = num(capText!);
    if (cap > 0) {
      while (store.zcard(idx) >= cap) {
        kill(store, base!, store.zrange(idx, 0, 0)[0]!.member);
        evicted++;
      }
    }
    store.hset(s, {
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
    store.pexpire(s, exp - now);
    store.set(`${base}f:${fam}`, h!, { ttlMs: abs - now });
    store.set(`${base}r:${rh}`, `c:${fam}`, { ttlMs: abs - now });
    store.zadd(idx, [{ member: h!, score: exp }]);
    fitIndexTtl(store, idx, now);
    return [1, created, exp, abs, evicted];
  },
});

export const SESSION_TOUCH = defineScript({
  name: 'session-touch',
  version: 1,
  file: 'session-touch.lua',
  twin: (store, [base], [h, slide, throttle], now): ScriptReply => {
    const idx = `${base}idx`;
    const s = `${base}s:${h}`;
    const v = store.hgetall(s);
    if (v.uid === undefined) {
      store.zrem(idx, [h!]);
      return [0];
    }
    let ls = num(v.ls!);
    let exp = num(v.exp!);
    const abs = num(v.abs!);
    const idle = num(v.idle!);
    if (now >= exp || now >= abs) {
      kill(store, base!, h!);
      return [0];
    }
    if (slide === '1' && now - ls >= num(throttle!)) {
      ls = now;
      exp = Math.min(now + idle, abs);
      store.hset(s, { ls: String(ls), exp: String(exp) });
      store.pexpire(s, exp - now);
      store.zadd(idx, [{ member: h!, score: exp }]);
      fitIndexTtl(store, idx, now);
    }
    return [1, v.uid, v.ua!, v.ip!, v.data!, num(v.ca!), ls, exp, abs, v.sid!];
  },
});

export const SESSION_REVOKE = defineScript({
  name: 'session-revoke',
  version: 1,
  file: 'session-revoke.lua',
  twin: (store, [base], [h]) => kill(store, base!, h!),
});

export const SESSION_REVOKE_ALL = defineScript({
  name: 'session-revoke-all',
  version: 1,
  file: 'session-revoke-all.lua',
  twin: (store, [base], [except]) => {
    let removed = 0;
    for (const { member } of store.zrange(`${base}idx`, 0, -1)) if (member !== except) removed += kill(store, base!, member);
    return removed;
  },
});

export const SESSION_REFRESH = defineScript({
  name: 'session-refresh',
  version: 1,
  file: 'session-refresh.lua',
  twin: (store, [base], [presented, newH, newRh], now): ScriptReply => {
    const idx = `${base}idx`;
    const r = `${base}r:${presented}`;
    const record = store.get(r);
    if (record === null) return [0];
    const state = record.slice(0, 1);
    const fam = record.slice(2);
    const f = `${base}f:${fam}`;
    const current = store.get(f);
    if (state === 'x') {
      let revoked = 0;
      if (current !== null) {
        revoked = kill(store, base!, current);
        store.del(f);
      }
      return [-1, revoked];
    }
    if (current === null) {
      store.del(r);
      return [0];
    }
    const s = `${base}s:${current}`;
    const v = store.hgetall(s);
    if (v.uid === undefined || v.rh !== presented || now >= num(v.exp!) || now >= num(v.abs!)) {
      kill(store, base!, current);
      store.del(f);
      store.del(r);
      return [0];
    }
    const ns = `${base}s:${newH}`;
    const nr = `${base}r:${newRh}`;
    if (store.exists(ns) || store.exists(nr)) return [-2];
    const abs = num(v.abs!);
    const idle = num(v.idle!);
    const exp = Math.min(now + idle, abs);
    store.hset(ns, {
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
      rh: newRh!,
      sid: newH!,
    });
    store.pexpire(ns, exp - now);
    store.del(s);
    store.zrem(idx, [current]);
    store.zadd(idx, [{ member: newH!, score: exp }]);
    fitIndexTtl(store, idx, now);
    store.set(f, newH!, { ttlMs: abs - now });
    store.set(r, `x:${fam}`, { ttlMs: abs - now });
    store.set(nr, `c:${fam}`, { ttlMs: abs - now });
    return [1, num(v.ca!), exp, abs];
  },
});

export const SESSION_LIST = defineScript({
  name: 'session-list',
  version: 1,
  file: 'session-list.lua',
  twin: (store, [base], _args, now): ScriptReply => {
    const idx = `${base}idx`;
    store.zremRangeByScore(idx, -Infinity, now);
    const out: ScriptReply[] = [];
    for (const { member: h } of store.zrange(idx, 0, -1)) {
      const v = store.hgetall(`${base}s:${h}`);
      if (v.ua !== undefined && now < num(v.exp!) && now < num(v.abs!)) {
        out.push([h, v.ua, v.ip!, v.data!, num(v.ca!), num(v.ls!), num(v.exp!), num(v.abs!)]);
      } else if (v.ua === undefined) {
        store.zrem(idx, [h]);
      }
    }
    return out;
  },
});

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
