import { SESSION_COUNT, sessionCountScript } from '../engine/scripts/session.scripts.js';
import type { SessionContext } from './session.context.js';
import { INDEX_PATTERN } from './session.sweep.js';
import { groupLiveKey, SESSION_GROUPS } from './session.tokens.js';
import type { SessionStats } from './session.types.js';

// The session-count script runs once per group; this many at a time.
const COUNT_BATCH = 256;
const ALL_LIVE_KEYS = Array.from({ length: SESSION_GROUPS }, (_, g) => groupLiveKey(g));

/** Counting for `SessionService.activeSessions` and `stats`; remembers whether Redis takes one script for all groups. */
export class SessionCounting {
  private countInOneCall = true;

  constructor(private readonly ctx: SessionContext) {}

  async activeSessions(options: { fallback?: boolean } = {}): Promise<number> {
    const engine = () => this.ctx.store.engine;
    const fallback = options.fallback ?? false;
    if (this.countInOneCall) {
      // A single Redis (or the memory store) takes every group in one script; a Cluster refuses it
      // (CROSSSLOT) and is asked one group at a time from then on.
      try {
        return Number(await engine().runScript(sessionCountScript(SESSION_GROUPS), ALL_LIVE_KEYS, [], { fallback }));
      } catch (error) {
        if (!/CROSSSLOT/.test(error instanceof Error ? error.message : '')) throw error;
        this.countInOneCall = false;
      }
    }
    let total = 0;
    for (let from = 0; from < SESSION_GROUPS; from += COUNT_BATCH) {
      const counts = await Promise.all(
        Array.from({ length: Math.min(COUNT_BATCH, SESSION_GROUPS - from) }, (_, i) =>
          engine().runScript(SESSION_COUNT, [groupLiveKey(from + i)], [], { fallback }),
        ),
      );
      for (const n of counts) total += Number(n);
    }
    return total;
  }

  async stats(options: { top?: number } = {}): Promise<SessionStats> {
    const top = options.top ?? 20;
    // While Redis is away this counts what the instance's fallback holds, as the rest of stats() does.
    const activeSessions = await this.activeSessions({ fallback: true });
    const perUser: Array<{ userId: string; sessions: number }> = [];
    if (top > 0) {
      const engine = this.ctx.store.engine;
      const now = await engine.time();
      const seen = new Set<string>();
      for await (const batch of engine.scan(INDEX_PATTERN, { count: 100 })) {
        for (const key of batch) {
          if (seen.has(key)) continue;
          seen.add(key);
          const live = await engine.zrangeByScore(key, now + 1, Infinity);
          if (live.length === 0) continue;
          // The key names the user only by its tag; a live session's record knows the user id.
          const base = key.slice(0, -'idx'.length);
          let userId: string | null = null;
          for (const { member } of live) if ((userId = await engine.hget(`${base}s:${member}`, 'uid')) !== null) break;
          if (userId !== null) perUser.push({ userId, sessions: live.length });
        }
      }
      perUser.sort((a, b) => b.sessions - a.sessions);
    }
    return { activeSessions, users: perUser.length, perUser: perUser.slice(0, top), counters: { ...this.ctx.counters } };
  }
}
