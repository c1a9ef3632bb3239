import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { escapeGlob } from '../../src/engine/glob.util.js';
import { SESSION_CREATE } from '../../src/engine/scripts/session.scripts.js';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import { DenylistInputError, SessionInputError } from '../../src/session/session.errors.js';
import type { SessionOptions } from '../../src/session/session.options.js';
import { SessionService, type RefreshReuseEvent } from '../../src/session/session.service.js';
import { userKeys, userTag, type UserKeys } from '../../src/session/session.tokens.js';
import { TokenDenylist } from '../../src/session/token-denylist.service.js';

export interface SessionTarget {
  engine: StoreEngine;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const user = (tag = 'u') => `${tag}-${randomUUID()}`;

/** A user's keys, computed as the service does (with the session secret it keeps in the store). */
export async function keysOf(engine: StoreEngine, userId: string): Promise<UserKeys> {
  const secret = await engine.get('sess:secret');
  if (!secret) throw new Error('no session secret in the store yet: create a session first');
  return userKeys(userTag(Buffer.from(secret, 'utf8'), userId));
}

/** Every key and value under a user's base, for "no raw secret stored" checks. */
async function dumpUser(engine: StoreEngine, userId: string): Promise<string> {
  const parts: string[] = [];
  for await (const batch of engine.scan(`${escapeGlob((await keysOf(engine, userId)).base)}*`)) {
    for (const key of batch) {
      parts.push(key);
      const all = await engine.hgetall(key).catch(() => null);
      if (all) parts.push(...Object.values(all));
      else parts.push(String(await engine.get(key).catch(() => '')));
    }
  }
  return parts.join('\n');
}

/**
 * One behaviour suite for SessionService and TokenDenylist, run on memory, Redis standalone,
 * Cluster and Sentinel: what users see must not depend on where the data lives.
 */
export function runSessionSuite(name: string, open: () => Promise<SessionTarget>): void {
  describe(`sessions on ${name}`, () => {
    let target: SessionTarget;
    const services: SessionService[] = [];
    const make = (options: SessionOptions = {}) => {
      const service = new SessionService(target.engine, { sweepInterval: 0, ...options });
      services.push(service);
      return service;
    };

    beforeAll(async () => {
      target = await open();
    });
    afterAll(async () => {
      for (const s of services) s.close();
      await target?.close();
    });

    it('creates a session that validates, with 256-bit tokens and only hashes stored', async () => {
      const sessions = make();
      const userId = user();
      const before = Date.now();
      const created = await sessions.create({ userId, userAgent: 'Firefox/140', ip: '203.0.113.9', data: { role: 'admin', n: 1 } });
      expect(created.sessionId).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
      expect(created.refreshToken).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
      expect(created.sessionId).not.toBe(created.refreshToken);
      // Defaults: 30 minutes idle, 8 hours absolute (on the store's clock, close to ours).
      expect(created.expiresAt - before).toBeGreaterThan(29 * 60_000);
      expect(created.expiresAt - before).toBeLessThan(31 * 60_000);
      expect(created.absoluteExpiresAt - before).toBeGreaterThan(8 * 3_600_000 - 60_000);
      expect(created.absoluteExpiresAt - before).toBeLessThan(8 * 3_600_000 + 60_000);

      const session = await sessions.validate(created.sessionId);
      expect(session).toEqual({
        userId,
        data: { role: 'admin', n: 1 },
        userAgent: 'Firefox/140',
        ip: '203.0.113.9',
        createdAt: expect.any(Number),
        lastSeenAt: expect.any(Number),
        expiresAt: created.expiresAt,
        absoluteExpiresAt: created.absoluteExpiresAt,
      });

      const stored = await dumpUser(target.engine, userId);
      expect(stored.length).toBeGreaterThan(0);
      for (const token of [created.sessionId, created.refreshToken]) expect(stored).not.toContain(token.split('.')[1]);
    });

    it('rejects what is not a live session: malformed, unknown, another user, a refresh token', async () => {
      const sessions = make();
      const a = await sessions.create({ userId: user() });
      const [userPart, secret] = a.sessionId.split('.');
      for (const bad of ['', 'x', `${userPart}.`, `${userPart}.${secret}x`, `${userPart}.${'A'.repeat(43)}`, `${Buffer.from(user()).toString('base64url')}.${secret}`, a.refreshToken, 42 as unknown as string]) {
        expect(await sessions.validate(bad)).toBeNull();
        expect(await sessions.touch(bad)).toBe(false);
        expect(await sessions.revoke(bad)).toBe(false);
      }
      expect(await sessions.validate(a.sessionId)).not.toBeNull();
    });

    it('validates input with errors that carry a code and name the problem', async () => {
      const sessions = make({ maxDataBytes: 64 });
      const cases: Array<[unknown, RegExp]> = [
        [{ userId: '' }, /userId must be a non-empty string/],
        [{ userId: 'x'.repeat(257) }, /at most 256/],
        [{ userId: 'a\nb' }, /control characters/],
        [{ userId: 'ok', data: 'y'.repeat(100) }, /maxDataBytes = 64/],
        [{ userId: 'ok', ip: 7 }, /ip must be a string/],
        [{ userId: 'ok', ttl: 'soon' }, /ttl must be/],
      ];
      for (const [input, message] of cases) {
        const error = await sessions.create(input as never).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SessionInputError);
        expect((error as SessionInputError).code).toBe('E_SESSION_INPUT');
        expect((error as Error).message).toMatch(message);
      }
      await expect(sessions.list('\u0000')).rejects.toThrow(SessionInputError);
    });

    it('keeps user ids with glob, brace and colon characters in their own keys', async () => {
      const sessions = make();
      const tricky = `a*{b}:c?[d]\\${randomUUID()}`;
      const plain = `a${randomUUID()}`;
      const t = await sessions.create({ userId: tricky });
      await sessions.create({ userId: plain });
      expect((await sessions.validate(t.sessionId))?.userId).toBe(tricky);
      expect(await sessions.list(tricky)).toHaveLength(1);
      expect(await sessions.revokeAll(plain)).toBe(1);
      expect(await sessions.validate(t.sessionId)).not.toBeNull();
    });

    it('ends a session after its idle timeout, and list() prunes it', async () => {
      const sessions = make({ idleTimeout: 300, absoluteTimeout: 10_000, touchThrottle: 0 });
      const userId = user();
      const s = await sessions.create({ userId });
      const keep = await sessions.create({ userId, ttl: 5_000 });
      await sleep(500);
      expect(await sessions.validate(s.sessionId)).toBeNull();
      expect(await sessions.validate(keep.sessionId)).not.toBeNull();
      expect((await sessions.list(userId)).map((e) => e.expiresAt)).toEqual([expect.any(Number)]);
    });

    it('slides the idle timeout on use', async () => {
      const sessions = make({ idleTimeout: 400, absoluteTimeout: 10_000, touchThrottle: 0 });
      const s = await sessions.create({ userId: user() });
      let last = s.expiresAt;
      for (let i = 0; i < 6; i++) {
        await sleep(150);
        const seen = await sessions.validate(s.sessionId);
        expect(seen).not.toBeNull();
        expect(seen!.expiresAt).toBeGreaterThan(last);
        last = seen!.expiresAt;
      }
      // 900 ms after creation, more than twice the idle timeout: alive only because it slid.
      expect(await sessions.touch(s.sessionId)).toBe(true);
    });

    it('throttles the sliding write: within touchThrottle validate does not move the expiry, touch does', async () => {
      const sessions = make({ idleTimeout: 60_000, absoluteTimeout: 600_000, touchThrottle: 30_000 });
      const s = await sessions.create({ userId: user() });
      await sleep(20);
      expect((await sessions.validate(s.sessionId))!.expiresAt).toBe(s.expiresAt);
      expect(await sessions.touch(s.sessionId)).toBe(true);
      expect((await sessions.validate(s.sessionId))!.expiresAt).toBeGreaterThan(s.expiresAt);
    });

    it('never lets a session outlive its absolute timeout, however often it is touched', async () => {
      const sessions = make({ idleTimeout: 400, absoluteTimeout: 1_000, touchThrottle: 0 });
      const s = await sessions.create({ userId: user() });
      let alive = true;
      while (alive) {
        const seen = await sessions.validate(s.sessionId);
        if (seen === null) {
          alive = false;
          break;
        }
        expect(seen.expiresAt).toBeLessThanOrEqual(s.absoluteExpiresAt);
        expect(seen.absoluteExpiresAt).toBe(s.absoluteExpiresAt);
        await sleep(100);
      }
      // Ended at the absolute deadline, not at an idle one (it was touched every 100 ms).
      expect(Date.now()).toBeGreaterThanOrEqual(s.absoluteExpiresAt - 150);
      expect(await sessions.touch(s.sessionId)).toBe(false);
      // Refresh cannot extend it either.
      expect(await sessions.refresh(s.refreshToken)).toBeNull();
    });

    it('revokes one session and its refresh token', async () => {
      const sessions = make();
      const userId = user();
      const a = await sessions.create({ userId });
      const b = await sessions.create({ userId });
      expect(await sessions.revoke(a.sessionId)).toBe(true);
      expect(await sessions.revoke(a.sessionId)).toBe(false);
      expect(await sessions.validate(a.sessionId)).toBeNull();
      expect(await sessions.refresh(a.refreshToken)).toBeNull();
      expect(await sessions.validate(b.sessionId)).not.toBeNull();
      expect(await sessions.list(userId)).toHaveLength(1);
    });

    it('revokeAll ends every session of the user but the one kept, and no other user', async () => {
      const sessions = make();
      const userId = user();
      const other = await sessions.create({ userId: user() });
      const mine = await Promise.all([1, 2, 3, 4].map(() => sessions.create({ userId })));
      expect(await sessions.revokeAll(userId, { except: mine[0]!.sessionId })).toBe(3);
      expect(await sessions.validate(mine[0]!.sessionId)).not.toBeNull();
      for (const s of mine.slice(1)) {
        expect(await sessions.validate(s.sessionId)).toBeNull();
        expect(await sessions.refresh(s.refreshToken)).toBeNull();
      }
      expect(await sessions.validate(other.sessionId)).not.toBeNull();
      await expect(sessions.revokeAll(userId, { except: other.sessionId })).rejects.toThrow(/same user/);
      expect(await sessions.revokeAll(userId)).toBe(1);
    });

    it('lists devices most recent first, with handles that revoke but do not authenticate', async () => {
      const sessions = make({ touchThrottle: 0 });
      const userId = user();
      const phone = await sessions.create({ userId, userAgent: 'Phone', ip: '198.51.100.1' });
      await sleep(5);
      const laptop = await sessions.create({ userId, userAgent: 'Laptop', ip: '198.51.100.2', data: { theme: 'dark' } });
      await sleep(5);
      await sessions.touch(phone.sessionId);
      const list = await sessions.list(userId);
      expect(list.map((e) => e.userAgent)).toEqual(['Phone', 'Laptop']);
      expect(list[1]).toMatchObject({ ip: '198.51.100.2', data: { theme: 'dark' }, createdAt: expect.any(Number) });
      expect(list[0]!.lastSeenAt).toBeGreaterThanOrEqual(list[0]!.createdAt);
      const handle = list[1]!.handle;
      expect(await sessions.validate(`${laptop.sessionId.split('.')[0]}.${handle}`)).toBeNull();
      expect(await sessions.revokeHandle(userId, handle)).toBe(true);
      expect(await sessions.validate(laptop.sessionId)).toBeNull();
      expect(await sessions.list(userId)).toHaveLength(1);
    });

    it('refresh rotates both tokens, keeps the absolute deadline, and reuse revokes the family', async () => {
      const sessions = make();
      const events: RefreshReuseEvent[] = [];
      const off = sessions.onReuseDetected((e) => events.push(e));
      const userId = user();
      const first = await sessions.create({ userId, userAgent: 'UA', data: { x: 1 } });
      const second = await sessions.refresh(first.refreshToken);
      expect(second).not.toBeNull();
      expect(second!.sessionId).not.toBe(first.sessionId);
      expect(second!.refreshToken).not.toBe(first.refreshToken);
      expect(second!.absoluteExpiresAt).toBe(first.absoluteExpiresAt);
      expect(await sessions.validate(first.sessionId)).toBeNull();
      expect(await sessions.validate(second!.sessionId)).toMatchObject({ userId, userAgent: 'UA', data: { x: 1 } });
      const third = await sessions.refresh(second!.refreshToken);
      expect(third).not.toBeNull();
      expect(events).toEqual([]);

      // The first token again: someone kept a copy. The whole family ends.
      expect(await sessions.refresh(first.refreshToken)).toBeNull();
      expect(events).toEqual([{ userId, revoked: 1 }]);
      expect(JSON.stringify(events)).not.toContain(first.refreshToken.split('.')[1]);
      expect(await sessions.validate(third!.sessionId)).toBeNull();
      expect(await sessions.refresh(third!.refreshToken)).toBeNull();
      expect((await sessions.stats()).counters.reuseDetected).toBe(1);
      off();
      expect(await sessions.refresh(second!.refreshToken)).toBeNull();
      expect(events).toHaveLength(1);
    });

    it('without a grace window, two refreshes racing with one token: at most one wins, and the loser counts as reuse', async () => {
      const sessions = make({ refreshGrace: 0 });
      for (let i = 0; i < 10; i++) {
        const s = await sessions.create({ userId: user() });
        const results = await Promise.all([sessions.refresh(s.refreshToken), sessions.refresh(s.refreshToken)]);
        const winners = results.filter((r) => r !== null);
        expect(winners.length).toBeLessThanOrEqual(1);
        // The replay revoked the family, winner included: no token of this family works afterwards.
        for (const w of winners) expect(await sessions.validate(w.sessionId)).toBeNull();
      }
    });

    it('a revoke racing validate and touch never brings the session back', async () => {
      const sessions = make({ touchThrottle: 0 });
      const userId = user();
      for (let i = 0; i < 40; i++) {
        const s = await sessions.create({ userId });
        const ops: Array<() => Promise<unknown>> = [
          () => sessions.validate(s.sessionId),
          () => sessions.touch(s.sessionId),
          () => sessions.revoke(s.sessionId),
          () => sessions.validate(s.sessionId),
          () => sessions.touch(s.sessionId),
          () => sessions.refresh(s.refreshToken),
        ];
        // A different interleaving each round: rotate and reverse the issue order.
        const order = ops.map((_, j) => ops[(j + i) % ops.length]!);
        if (i % 2 === 1) order.reverse();
        await Promise.all(order.map((op) => op()));
        expect(await sessions.validate(s.sessionId)).toBeNull();
        expect(await sessions.touch(s.sessionId)).toBe(false);
      }
      // Refresh may have rotated a session before the revoke reached it; those rotated ones are
      // legitimate survivors, but no original id may be among them and the index holds no ghosts.
      const live = await sessions.list(userId);
      expect(await sessions.revokeAll(userId)).toBe(live.length);
      expect(await target.engine.zcard((await keysOf(target.engine, userId)).idx)).toBe(0);
    });

    it('create never overwrites: the same id twice leaves the first session intact', async () => {
      await make().create({ userId: user() });
      const k = await keysOf(target.engine, user());
      const keys = [k.idx, k.session('H'.repeat(43)), k.refresh('R'.repeat(43)), k.family('F'.repeat(22)), k.live, k.epoch];
      const args = (data: string) => ['H'.repeat(43), 'R'.repeat(43), 'F'.repeat(22), 60_000, 600_000, 0, '', 'uid', 'ua', 'ip', data];
      const first = await target.engine.runScript(SESSION_CREATE, keys, args('"first"'), { replayOnRecovery: true });
      expect((first as number[])[0]).toBe(1);
      expect(await target.engine.runScript(SESSION_CREATE, keys, args('"second"'), { replayOnRecovery: true })).toEqual([0]);
      expect(await target.engine.hget(k.session('H'.repeat(43)), 'data')).toBe('"first"');
    });

    it('caps sessions per user by evicting the least recently active', async () => {
      const sessions = make({ maxPerUser: 3, touchThrottle: 0 });
      const userId = user();
      const s = [];
      for (let i = 0; i < 3; i++) {
        s.push(await sessions.create({ userId, userAgent: `d${i}` }));
        await sleep(5);
      }
      await sessions.touch(s[0]!.sessionId); // d0 is now the most recently active
      const d3 = await sessions.create({ userId, userAgent: 'd3' });
      expect((await sessions.list(userId)).map((e) => e.userAgent).sort()).toEqual(['d0', 'd2', 'd3']);
      expect(await sessions.validate(s[1]!.sessionId)).toBeNull();
      expect(await sessions.refresh(s[1]!.refreshToken)).toBeNull();
      expect(await sessions.validate(d3.sessionId)).not.toBeNull();
      expect((await sessions.stats()).counters.evicted).toBe(1);
    });

    it('stats() counts live sessions per user across the whole store', async () => {
      const sessions = make();
      const heavy = user('heavy');
      const light = user('light');
      await Promise.all([1, 2, 3].map(() => sessions.create({ userId: heavy })));
      await sessions.create({ userId: light });
      const stats = await sessions.stats({ top: 1000 });
      expect(stats.perUser).toEqual(expect.arrayContaining([{ userId: heavy, sessions: 3 }, { userId: light, sessions: 1 }]));
      expect(stats.activeSessions).toBeGreaterThanOrEqual(4);
      expect(stats.counters.created).toBe(4);
    });

    it('the sweep prunes index entries of ended sessions, in bounded steps', async () => {
      const sessions = make({ idleTimeout: 150, absoluteTimeout: 60_000 });
      const userId = user();
      await sessions.create({ userId });
      await sessions.create({ userId });
      await sessions.create({ userId, ttl: 30_000 });
      const idx = (await keysOf(target.engine, userId)).idx;
      expect(await target.engine.zcard(idx)).toBe(3);
      await sleep(300);
      let removed = 0;
      for (let i = 0; i < 100 && (await target.engine.zcard(idx)) > 1; i++) removed += await sessions.sweep(20);
      expect(await target.engine.zcard(idx)).toBe(1);
      expect(removed).toBeGreaterThanOrEqual(2);
    });

    describe('TokenDenylist', () => {
      const nowS = () => Math.floor(Date.now() / 1000);

      it('denies by (iss, jti) until exp, without storing the claims in clear', async () => {
        const denylist = new TokenDenylist(target.engine);
        const jti = `jti-${randomUUID()}`;
        expect(await denylist.isDenied({ jti, iss: 'https://a.example' })).toBe(false);
        expect(await denylist.deny({ jti, iss: 'https://a.example', exp: nowS() + 600 })).toBe(true);
        expect(await denylist.isDenied({ jti, iss: 'https://a.example' })).toBe(true);
        // Same jti, another issuer: a different token.
        expect(await denylist.isDenied({ jti, iss: 'https://b.example' })).toBe(false);
        const keys: string[] = [];
        for await (const batch of target.engine.scan('sess:dl:*')) keys.push(...batch);
        expect(keys.length).toBeGreaterThan(0);
        expect(keys.join()).not.toContain(jti);
        expect(keys.join()).not.toContain('a.example');
      });

      it('forgets an entry once the token has expired (no skew margin); an exp already past is a no-op', async () => {
        const denylist = new TokenDenylist(target.engine, { denylist: { clockSkew: 0 } });
        const jti = randomUUID();
        expect(await denylist.deny({ jti, iss: 'i', exp: (Date.now() + 300) / 1000 })).toBe(true);
        expect(await denylist.isDenied({ jti, iss: 'i' })).toBe(true);
        await sleep(500);
        expect(await denylist.isDenied({ jti, iss: 'i' })).toBe(false);
        expect(await denylist.deny({ jti, iss: 'i', exp: nowS() - 10 })).toBe(false);
        expect(await denylist.isDenied({ jti, iss: 'i' })).toBe(false);
        expect(denylist.stats().expiredNoop).toBe(1);
      });

      it('a second deny never shortens the first', async () => {
        const denylist = new TokenDenylist(target.engine, { denylist: { clockSkew: 0 } });
        const jti = randomUUID();
        await denylist.deny({ jti, iss: 'i', exp: nowS() + 600 });
        await denylist.deny({ jti, iss: 'i', exp: (Date.now() + 100) / 1000 });
        await sleep(250);
        expect(await denylist.isDenied({ jti, iss: 'i' })).toBe(true);
      });

      it('refuses missing claims and absurd expiries with a coded error', async () => {
        const denylist = new TokenDenylist(target.engine);
        const cases: Array<[unknown, RegExp]> = [
          [{ iss: 'i', exp: nowS() + 60 }, /jti is required/],
          [{ jti: 'j', exp: nowS() + 60 }, /iss is required/],
          [{ jti: '', iss: 'i', exp: nowS() + 60 }, /jti is required/],
          [{ jti: 'j', iss: 'i' }, /exp must be a number/],
          [{ jti: 'j', iss: 'i', exp: Date.now() }, /milliseconds instead of seconds/],
          [{ jti: 'j', iss: 'i', exp: nowS() + 2 * 366 * 86_400 }, /maxTtl/],
        ];
        for (const [input, message] of cases) {
          const error = await denylist.deny(input as never).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(DenylistInputError);
          expect((error as DenylistInputError).code).toBe('E_DENYLIST_INPUT');
          expect((error as Error).message).toMatch(message);
        }
        await expect(denylist.isDenied({ jti: 'j' } as never)).rejects.toThrow(DenylistInputError);
      });
    });
  });
}
