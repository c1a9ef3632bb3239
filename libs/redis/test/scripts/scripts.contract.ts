import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { escapeGlob } from '../../src/engine/glob.util.js';
import { MemoryEngine } from '../../src/engine/memory.engine.js';
import type { ScriptReply } from '../../src/engine/script.registry.js';
import { ALL_SCRIPTS } from '../../src/engine/scripts/all.scripts.js';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import type { EngineTarget } from '../redis-targets.js';
import { rng, sameReply, SCRIPT_CASES, type ScriptCase, type SequenceContext } from './script-cases.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Epoch-millisecond strings (hash fields such as "exp") compare as numbers, with the clock
 * tolerance; so do the ones inside a `:`-separated value (a refresh record's grace deadline).
 */
const field = (v: string): ScriptReply => {
  if (/^\d{13,}$/.test(v)) return Number(v);
  // A stream id: its sequence depends on how appends fell into milliseconds on each side.
  if (/^\d{13,}-\d+$/.test(v)) return Number(v.split('-')[0]);
  if (/(^|:)\d{13,}(:|$)/.test(v)) return v.split(':').map((part) => (/^\d{13,}$/.test(part) ? Number(part) : part));
  return v;
};

/** A key's type and content in one comparable shape; undefined when the key is gone. */
async function read(e: StoreEngine, key: string): Promise<ScriptReply | undefined> {
  const readers: Array<() => Promise<ScriptReply | undefined>> = [
    async () => {
      const v = await e.get(key);
      return v === null ? undefined : ['string', field(v)];
    },
    async () => {
      const h = Object.entries(await e.hgetall(key)).sort(([a], [b]) => a.localeCompare(b));
      return h.length === 0 ? undefined : ['hash', ...h.flatMap(([f, v]) => [f, field(v)])];
    },
    async () => {
      const z = (await e.zrange(key, 0, -1)).sort((a, b) => a.member.localeCompare(b.member));
      return z.length === 0 ? undefined : ['zset', ...z.flatMap((x) => [x.member, x.score])];
    },
    async () => {
      const s = (await e.smembers(key)).sort();
      return s.length === 0 ? undefined : ['set', ...s];
    },
    async () => {
      if (!(await e.exists(key))) return undefined;
      const entries = await e.xrange(key, '-', '+');
      return ['stream', ...entries.flatMap((x) => [field(x.id), ...Object.entries(x.fields).flatMap(([f, v]) => [f, field(v)])])];
    },
  ];
  for (const reader of readers) {
    try {
      const value = await reader();
      if (value !== undefined) return value;
    } catch (error) {
      if (!/WRONGTYPE/.test(String(error))) throw error;
    }
  }
  return undefined;
}

interface Snapshot {
  /** Per key: content, and when it expires on the reader's clock (-1: never). */
  keys: Map<string, { value: ScriptReply; expiresAt: number }>;
  doneAt: number;
}

/** Every key under `space` with its content and expiry (read time + PTTL, so slow reads do not skew it). */
async function snapshot(e: StoreEngine, space: string): Promise<Snapshot> {
  const found = new Set<string>();
  for await (const batch of e.scan(`${escapeGlob(space)}*`)) for (const key of batch) found.add(key);
  const keys = new Map<string, { value: ScriptReply; expiresAt: number }>();
  for (const key of [...found].sort()) {
    const value = await read(e, key);
    const ttl = await e.pttl(key);
    if (value !== undefined && ttl !== -2) keys.set(key, { value, expiresAt: ttl < 0 ? ttl : Date.now() + ttl });
  }
  return { keys, doneAt: Date.now() };
}

/** Differences between two snapshots; a key on one side only is fine when it expired before the other side was read. */
function stateDiff(lua: Snapshot, twin: Snapshot): string[] {
  const diffs: string[] = [];
  const TOLERANCE_MS = 250;
  for (const key of new Set([...lua.keys.keys(), ...twin.keys.keys()])) {
    const l = lua.keys.get(key);
    const t = twin.keys.get(key);
    if (!l || !t) {
      const only = (l ?? t)!;
      const otherDone = (l ? twin : lua).doneAt;
      if (only.expiresAt < 0 || only.expiresAt > otherDone + TOLERANCE_MS) diffs.push(`${key}: only ${l ? 'on Redis' : 'in memory'} (${JSON.stringify(only)})`);
      continue;
    }
    const d = sameReply(l.value, t.value, key);
    if (d) diffs.push(d);
    if ((l.expiresAt < 0 || t.expiresAt < 0) ? l.expiresAt !== t.expiresAt : Math.abs(l.expiresAt - t.expiresAt) > TOLERANCE_MS) {
      diffs.push(`${key}: expires at ${l.expiresAt} on Redis vs ${t.expiresAt} in memory`);
    }
  }
  return diffs;
}

/**
 * One suite for every script of ALL_SCRIPTS: its Lua on the Redis of `open` and its TypeScript
 * twin on a MemoryEngine run the same seeded inputs step by step (SCRIPT_CASES), and must give the
 * same reply at every step and leave the same keys, values and TTLs behind.
 */
export function runScriptContract(topology: string, open: () => Promise<EngineTarget>): void {
  describe(`every script's Lua on Redis ${topology} equals its TypeScript twin in memory`, () => {
    let redis: EngineTarget;
    let memory: MemoryEngine;
    const ran = new Set<string>();

    beforeAll(async () => {
      redis = await open();
      memory = new MemoryEngine({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
    });
    afterAll(async () => {
      await memory?.close();
      await redis?.close();
    });

    it('every script of ALL_SCRIPTS has a case with an input generator (script-cases.ts)', () => {
      expect(ALL_SCRIPTS.filter((s) => !SCRIPT_CASES[s.name]).map((s) => s.name)).toEqual([]);
    });

    const cases = new Map<ScriptCase, Set<string>>();
    for (const script of ALL_SCRIPTS) {
      const c = SCRIPT_CASES[script.name];
      if (c) cases.set(c, (cases.get(c) ?? new Set()).add(script.name));
    }

    for (const [c, names] of cases) {
      it.each([...c.seeds])(`${[...names].join(', ')}: seed %i gives the same replies and the same state`, async (seed) => {
        const space = `sc${randomUUID().slice(0, 8)}:`;
        const outcomes = new Map<string, number>();
        const ctx: SequenceContext = {
          random: rng(seed),
          space,
          sleep,
          note: (what) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1),
          async run(script, keys, args, options = {}) {
            ran.add(script.commandName);
            const [l, t] = await Promise.all(
              [redis.engine, memory].map(async (e) => e.runScript(script, keys, typeof args === 'function' ? await args(e) : args)),
            );
            const normalize = options.normalize ?? ((r: ScriptReply) => r);
            const diff = (options.compare ?? sameReply)(normalize(l!), normalize(t!));
            if (diff) throw new Error(`${script.commandName}(${JSON.stringify(keys)}, ${JSON.stringify(args)}) differs between Lua on Redis and its twin in memory: ${diff}`);
            return t!;
          },
          async both(op) {
            const [l, t] = await Promise.all([op(redis.engine), op(memory)]);
            expect(l).toEqual(t);
            return t;
          },
        };
        await c.sequence(ctx);
        const short = Object.entries(c.reaches ?? {}).filter(([what, min]) => (outcomes.get(what) ?? 0) < min);
        expect(short.map(([what, min]) => `${what}: ${outcomes.get(what) ?? 0} < ${min}`)).toEqual([]);
        const [l, t] = await Promise.all([snapshot(redis.engine, space), snapshot(memory, space)]);
        expect(l.keys.size).toBeGreaterThan(0);
        expect(stateDiff(l, t)).toEqual([]);
      });
    }

    it('every script of ALL_SCRIPTS ran in its sequence', () => {
      expect(ALL_SCRIPTS.map((s) => s.commandName).filter((name) => !ran.has(name))).toEqual([]);
    });
  });
}
