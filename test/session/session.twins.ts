import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemoryEngine } from '../../libs/redis/src/engine/memory.engine.js';
import type { ScriptDefinition, ScriptReply } from '../../libs/redis/src/engine/script.registry.js';
import {
  DENYLIST_ADD,
  SESSION_COUNT,
  SESSION_CREATE,
  SESSION_FORGET,
  SESSION_REFRESH,
  SESSION_REVOKE,
  SESSION_TOUCH,
  sessionListScript,
  sessionRevokeAllScript,
} from '../../libs/redis/src/engine/scripts/session.scripts.js';
import { userKeys, type UserKeys } from '../../libs/redis/src/session/session.tokens.js';
import type { StoreEngine } from '../../libs/redis/src/engine/store-engine.port.js';
import type { SessionTarget } from './session.behaviour.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small seeded PRNG (mulberry32): the same sequence on every run, so a failure reproduces. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Two engines' replies are equal when they match exactly, except epoch-millisecond timestamps,
 * which come from two clocks (Redis TIME and the process) read a few ms apart.
 */
function sameReply(a: ScriptReply, b: ScriptReply, path = 'reply'): string | null {
  if (typeof a === 'number' && typeof b === 'number' && a > 1e12 && b > 1e12) return Math.abs(a - b) <= 250 ? null : `${path}: ${a} vs ${b}`;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length} (${JSON.stringify(a)} vs ${JSON.stringify(b)})`;
    for (let i = 0; i < a.length; i++) {
      const d = sameReply(a[i]!, b[i]!, `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/** list replies are ordered by expiry; entries created in the same millisecond tie on one clock only. */
const byHash = (reply: ScriptReply): ScriptReply => (Array.isArray(reply) ? [...reply].sort((x, y) => String((x as ScriptReply[])[0]).localeCompare(String((y as ScriptReply[])[0]))) : reply);

/**
 * Runs one seeded sequence of session scripts against the memory twin and against Redis, step by
 * step with the same keys and arguments, and requires the same reply at every step.
 */
export function runTwinEquivalence(name: string, open: () => Promise<SessionTarget>): void {
  describe(`session script twins equal their Lua on ${name}`, () => {
    let target: SessionTarget;
    let memory: MemoryEngine;
    beforeAll(async () => {
      target = await open();
      memory = new MemoryEngine({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
    });
    afterAll(async () => {
      await memory?.close();
      await target?.close();
    });

    async function both(engines: [StoreEngine, StoreEngine], script: ScriptDefinition, keys: string[], args: (string | number)[] | ((engine: StoreEngine) => Promise<(string | number)[]>), normalize = (r: ScriptReply) => r) {
      const [m, r] = await Promise.all(engines.map(async (e) => e.runScript(script, keys, typeof args === 'function' ? await args(e) : args)));
      const diff = sameReply(normalize(m!), normalize(r!));
      if (diff) throw new Error(`${script.name}(${JSON.stringify(args)}) differs between memory and Redis: ${diff}`);
      return m!;
    }

    it('a seeded sequence of 400 create/touch/refresh/revoke/forget/revokeAll/list/count/deny steps gives the same replies', async () => {
      const random = rng(20261201);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
      const token = (n = 43) => Array.from({ length: n }, () => ALPHABET[Math.floor(random() * 64)]).join('');
      const run = `tw${Date.now().toString(36)}`;
      // Three users; the first two share a group (a live set), as users of one group do.
      const users: UserKeys[] = [userKeys('AAAA' + token(18)), userKeys('AAAA' + token(18)), userKeys(token(22))];
      const sessions = new Map<UserKeys, string[]>(users.map((u) => [u, []]));
      const refreshes = new Map<UserKeys, string[]>(users.map((u) => [u, []]));
      const families = new Map<string, { fam: string; rh: string }>();
      const engines: [StoreEngine, StoreEngine] = [memory, target.engine];
      const outcomes = new Map<string, number>();
      const note = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
      const indexed = async (u: UserKeys) => (await memory.zrange(u.idx, 0, -1)).map((e) => e.member);

      for (let step = 0; step < 400; step++) {
        // Steps at distinct milliseconds on both clocks, so expiry scores never tie on one engine
        // only (eviction picks the lowest score).
        await sleep(2);
        const u = pick(users);
        const known = sessions.get(u)!;
        const knownRefresh = refreshes.get(u)!;
        const dice = random();
        if (dice < 0.25 || known.length === 0) {
          const h = token();
          const rh = token();
          const fam = token(22);
          // A short session is dead by the next step on both clocks (steps are 2 ms apart at least):
          // an expiry that fell between the two engines' reads of the clock would differ by timing alone.
          const short = random() < 0.2;
          const cap = random() < 0.2 ? 2 : 0;
          const reply = (await both(engines, SESSION_CREATE, [u.idx, u.session(h), u.refresh(rh), u.family(fam), u.live], [h, rh, fam, short ? 1 : 3_600_000, 7_200_000, cap, '', run, 'ua', 'ip', '{"n":1}'])) as number[];
          note(`create:${reply[0]}${reply[4] ? ':evicted' : ''}`);
          known.push(h);
          knownRefresh.push(rh);
          families.set(h, { fam, rh });
        } else if (dice < 0.4) {
          const h = random() < 0.9 ? pick(known) : token();
          const reply = (await both(engines, SESSION_TOUCH, [u.session(h), u.idx, u.live], [h, random() < 0.8 ? '1' : '0', random() < 0.5 ? 0 : 60_000])) as ScriptReply[];
          note(`touch:${reply[0]}`);
        } else if (dice < 0.6) {
          // As the service does: read the record (and the family pointer) first, declare every key.
          const presented = random() < 0.9 ? pick(knownRefresh) : token();
          const record = await memory.get(u.refresh(presented));
          // The same record on both, but for the grace deadline, an epoch ms on each engine's clock.
          const stamp = (text: string | null) => text?.replace(/:\d{13}:/, ':T:') ?? null;
          expect(stamp(await target.engine.get(u.refresh(presented)))).toBe(stamp(record));
          if (record === null) {
            note('refresh:unknown');
          } else {
            const fam = record.split(':')[1]!;
            const current = record.startsWith('c:') ? '' : ((await memory.get(u.family(fam))) ?? '');
            const s = record.startsWith('c:') ? record.slice(3 + fam.length) : current;
            const h = token();
            const rh = token();
            const grace = random() < 0.5 ? 0 : 100_000;
            const reply = (await both(
              engines,
              SESSION_REFRESH,
              [u.refresh(presented), u.family(fam), u.session(s), u.idx, u.live, u.session(h), u.refresh(rh)],
              ((stale, sealed) => async (engine: StoreEngine) => [presented, stale ? 'c:stale:x' : ((await engine.get(u.refresh(presented))) ?? ''), current, h, rh, grace, sealed])(
                random() >= 0.95,
                grace ? `sealed${token(8)}` : '',
              ),
            )) as ScriptReply[];
            note(`refresh:${String(reply[0])}`);
            if (reply[0] === 1) {
              known.push(h);
              knownRefresh.push(rh);
              families.set(h, { fam, rh });
            }
          }
        } else if (dice < 0.7) {
          const h = pick(known);
          const reply = (await both(engines, SESSION_REVOKE, [u.session(h), u.idx, u.live], [h])) as ScriptReply[];
          note(`revoke:${String(reply[0])}`);
          const f = families.get(h);
          if (f && random() < 0.7) note(`forget:${String(await both(engines, SESSION_FORGET, [u.family(f.fam), u.refresh(f.rh)], [h, f.fam]))}`);
        } else if (dice < 0.75) {
          const keep = random() < 0.5 ? pick(known) : '';
          // Declare most of what the index holds, sometimes not all (a session indexed after the read).
          const hashes = (await indexed(u)).filter((h) => h !== keep && random() < 0.9);
          const reply = (await both(engines, sessionRevokeAllScript(hashes.length), [u.idx, u.live, ...hashes.map(u.session)], [keep, ...hashes])) as ScriptReply[];
          note(`revokeAll:${Number(reply[0]) > 0 ? 'some' : 'none'}`);
        } else if (dice < 0.85) {
          const hashes = (await indexed(u)).filter(() => random() < 0.9);
          const reply = (await both(engines, sessionListScript(hashes.length), [u.idx, u.live, ...hashes.map(u.session)], hashes, (r) => [(r as ScriptReply[])[0]!, byHash((r as ScriptReply[])[1]!)])) as ScriptReply[];
          note(`list:${String(reply[0])}:${(reply[1] as ScriptReply[]).length > 0 ? 'some' : 'none'}`);
        } else if (dice < 0.9) {
          note(`count:${Number(await both(engines, SESSION_COUNT, [u.live], [])) > 0 ? 'some' : 'none'}`);
        } else {
          const key = `sess:dl:${run}:${token(8)}`;
          const exp = Date.now() + (random() < 0.3 ? -1_000 : 60_000);
          const skew = random() < 0.5 ? 0 : 500;
          note(`deny:${String(await both(engines, DENYLIST_ADD, [key], [exp, skew]))}`);
          expect(await target.engine.exists(key)).toBe(await memory.exists(key));
        }
        // Every so often let the short-lived sessions expire, so the expiry branches run too.
        if (step % 100 === 99) await sleep(300);
      }
      // The sequence reached every branch, or it proved less than it claims.
      const branches = ['create:1', 'create:1:evicted', 'touch:1', 'touch:0', 'refresh:1', 'refresh:2', 'refresh:0', 'refresh:-1', 'refresh:-3', 'revoke:1', 'revoke:0', 'forget:2', 'list:1:some', 'list:0:some', 'revokeAll:some', 'count:some', 'deny:1', 'deny:0'];
      expect(branches.filter((branch) => !outcomes.has(branch))).toEqual([]);
    });
  });
}
