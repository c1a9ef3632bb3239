import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemoryEngine } from '../../libs/redis/src/engine/memory.engine.js';
import type { ScriptDefinition, ScriptReply } from '../../libs/redis/src/engine/script.registry.js';
import {
  DENYLIST_ADD,
  SESSION_CREATE,
  SESSION_LIST,
  SESSION_REFRESH,
  SESSION_REVOKE,
  SESSION_REVOKE_ALL,
  SESSION_TOUCH,
} from '../../libs/redis/src/engine/scripts/session.scripts.js';
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

    async function both(engines: [StoreEngine, StoreEngine], script: ScriptDefinition, keys: string[], args: (string | number)[], normalize = (r: ScriptReply) => r) {
      const [m, r] = await Promise.all(engines.map((e) => e.runScript(script, keys, args)));
      const diff = sameReply(normalize(m!), normalize(r!));
      if (diff) throw new Error(`${script.name}(${JSON.stringify(args)}) differs between memory and Redis: ${diff}`);
      return m!;
    }

    it('a seeded sequence of 400 create/touch/refresh/revoke/revokeAll/list/deny steps gives the same replies', async () => {
      const random = rng(20261122);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
      const token = (n = 43) => Array.from({ length: n }, () => ALPHABET[Math.floor(random() * 64)]).join('');
      const run = `tw${Date.now().toString(36)}`;
      const users = [1, 2, 3].map((i) => `sess:{u:${run}${i}}:`);
      const sessions = new Map<string, string[]>(users.map((u) => [u, []]));
      const refreshes = new Map<string, string[]>(users.map((u) => [u, []]));
      const engines: [StoreEngine, StoreEngine] = [memory, target.engine];
      const outcomes = new Map<string, number>();
      const note = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

      for (let step = 0; step < 400; step++) {
        const base = pick(users);
        const known = sessions.get(base)!;
        const knownRefresh = refreshes.get(base)!;
        const dice = random();
        if (dice < 0.25 || known.length === 0) {
          const h = token();
          const rh = token();
          const short = random() < 0.2;
          const reply = (await both(engines, SESSION_CREATE, [base], [h, rh, token(22), short ? 150 : 3_600_000, 7_200_000, 0, '', base, 'ua', 'ip', '{"n":1}'])) as number[];
          note(`create:${reply[0]}`);
          known.push(h);
          knownRefresh.push(rh);
        } else if (dice < 0.45) {
          const reply = (await both(engines, SESSION_TOUCH, [base], [random() < 0.9 ? pick(known) : token(), random() < 0.8 ? '1' : '0', random() < 0.5 ? 0 : 60_000])) as ScriptReply[];
          note(`touch:${reply[0]}`);
        } else if (dice < 0.65) {
          const h = token();
          const rh = token();
          const reply = (await both(engines, SESSION_REFRESH, [base], [random() < 0.9 ? pick(knownRefresh) : token(), h, rh])) as number[];
          note(`refresh:${reply[0]}`);
          if (reply[0] === 1) {
            known.push(h);
            knownRefresh.push(rh);
          }
        } else if (dice < 0.75) {
          note(`revoke:${String(await both(engines, SESSION_REVOKE, [base], [pick(known)]))}`);
        } else if (dice < 0.8) {
          note(`revokeAll:${String(await both(engines, SESSION_REVOKE_ALL, [base], [random() < 0.5 ? pick(known) : '']))}`);
        } else if (dice < 0.92) {
          const reply = (await both(engines, SESSION_LIST, [base], [], byHash)) as ScriptReply[];
          note(`list:${reply.length > 0 ? 'some' : 'none'}`);
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
      const branches = ['create:1', 'touch:1', 'touch:0', 'refresh:1', 'refresh:0', 'refresh:-1', 'revoke:1', 'revoke:0', 'list:some', 'deny:1', 'deny:0'];
      expect(branches.filter((branch) => !outcomes.has(branch))).toEqual([]);
    });
  });
}
