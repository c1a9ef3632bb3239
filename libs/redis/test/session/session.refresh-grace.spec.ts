import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { SessionService, type RefreshReuseEvent } from '../../src/session/session.service.js';
import { useInstances } from './session.instances.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 13: a retried or concurrent refresh (a mobile client on a flaky network, two tabs, two
 * instances behind a load balancer) must not log the user out; a replay after the grace window
 * still revokes the family (RFC 9700 4.14.2).
 */
describe('refresh grace: two instances refreshing one token at once', () => {
  const { instance, redis } = useInstances('grace:');

  it('defaults to a 5 s grace window', () => {
    expect(new SessionService(() => null as never).options.refreshGraceMs).toBe(5_000);
  });

  it('both callers end with a session that validates, and the family is not revoked', async () => {
    const a = instance();
    const b = instance();
    const reuse: RefreshReuseEvent[] = [];
    a.onReuseDetected((e) => reuse.push(e));
    b.onReuseDetected((e) => reuse.push(e));
    for (let round = 0; round < 20; round++) {
      const userId = `racer-${randomUUID()}`;
      const created = await a.create({ userId, userAgent: 'phone' });
      const [ra, rb] = await Promise.all([a.refresh(created.refreshToken), b.refresh(created.refreshToken)]);
      expect(ra).not.toBeNull();
      expect(rb).not.toBeNull();
      // The same rotation: one new pair, handed to both callers.
      expect(rb).toEqual(ra);
      expect(await a.validate(ra!.sessionId)).toMatchObject({ userId, userAgent: 'phone' });
      expect(await b.validate(rb!.sessionId)).toMatchObject({ userId, userAgent: 'phone' });
      expect(await a.validate(created.sessionId)).toBeNull();
      // The family goes on: the new refresh token rotates normally.
      const next = await b.refresh(ra!.refreshToken);
      expect(next).not.toBeNull();
      expect(await a.validate(next!.sessionId)).not.toBeNull();
      expect(await a.list(userId)).toHaveLength(1);
    }
    expect(reuse).toEqual([]);
    // Each round: one rotation, one grace replay (whichever instance came second).
    const replays = (await a.stats({ top: 0 })).counters.refreshGraceReplays + (await b.stats({ top: 0 })).counters.refreshGraceReplays;
    expect(replays).toBe(20);
  });

  it('a retry within the grace window gets the same pair; the pair is stored only sealed', async () => {
    const a = instance();
    const created = await a.create({ userId: `retry-${randomUUID()}` });
    const first = await a.refresh(created.refreshToken);
    const again = await a.refresh(created.refreshToken);
    expect(again).toEqual(first);
    expect((await a.stats({ top: 0 })).counters.refreshGraceReplays).toBe(1);
    const dump: string[] = [];
    const client = redis();
    for (const key of await client.keys('grace:sess:*')) {
      dump.push(key);
      const type = await client.type(key);
      if (type === 'string') dump.push(String(await client.get(key)));
      if (type === 'hash') dump.push(...Object.values(await client.hgetall(key)));
    }
    const text = dump.join('\n');
    for (const token of [first!.sessionId, first!.refreshToken, created.refreshToken]) expect(text).not.toContain(token.split('.')[1]);
  });

  it('a reuse after the grace window revokes the family', async () => {
    const a = instance({ refreshGrace: '300ms' });
    const b = instance({ refreshGrace: '300ms' });
    const events: RefreshReuseEvent[] = [];
    b.onReuseDetected((e) => events.push(e));
    const userId = `late-${randomUUID()}`;
    const created = await a.create({ userId });
    const rotated = await a.refresh(created.refreshToken);
    expect(rotated).not.toBeNull();
    await sleep(600);
    expect(await b.refresh(created.refreshToken)).toBeNull();
    expect(events).toEqual([{ userId, revoked: 1 }]);
    expect(await a.validate(rotated!.sessionId)).toBeNull();
    expect(await a.refresh(rotated!.refreshToken)).toBeNull();
  });

  it('within the grace window, a token whose rotation was itself rotated since is reuse', async () => {
    const a = instance();
    const events: RefreshReuseEvent[] = [];
    a.onReuseDetected((e) => events.push(e));
    const created = await a.create({ userId: `twice-${randomUUID()}` });
    const second = await a.refresh(created.refreshToken);
    const third = await a.refresh(second!.refreshToken);
    // The first token's rotation issued `second`, which is no longer current: strict reuse.
    expect(await a.refresh(created.refreshToken)).toBeNull();
    expect(events).toHaveLength(1);
    expect(await a.validate(third!.sessionId)).toBeNull();
  });

  it('with refreshGrace: 0 the second presentation is reuse, as before', async () => {
    const a = instance({ refreshGrace: 0 });
    const created = await a.create({ userId: `strict-${randomUUID()}` });
    const rotated = await a.refresh(created.refreshToken);
    expect(await a.refresh(created.refreshToken)).toBeNull();
    expect(await a.validate(rotated!.sessionId)).toBeNull();
  });
});
