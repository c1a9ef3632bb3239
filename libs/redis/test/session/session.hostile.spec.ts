import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { RefreshReuseEvent } from '../../src/session/session.service.js';
import { userKeys, userTag } from '../../src/session/session.tokens.js';
import { useInstances } from './session.instances.js';

const SECRET = 'h'.repeat(40);

describe('sessions against corrupt records and refresh bursts', () => {
  const { instance, redis } = useInstances('h:', { secret: SECRET });

  it('a record with corrupt fields is no session: validate, touch, list and refresh answer, none throws', async () => {
    const sessions = instance();
    const client = redis();
    const keys = (userId: string) => userKeys(userTag(Buffer.from(SECRET), userId));
    const recordOf = async (userId: string) => {
      const [member] = (await client.call('ZRANGE', `h:${keys(userId).idx}`, 0, 0)) as string[];
      return `h:${keys(userId).session(member!)}`;
    };
    const corruptions: Array<[string, string]> = [
      ['exp', 'not-a-number'],
      ['abs', ''],
      ['idle', 'x'],
      ['ls', '{}'],
      ['data', '{"broken'],
    ];
    for (const [field, value] of corruptions) {
      const userId = `corrupt-${field}-${randomUUID()}`;
      const s = await sessions.create({ userId, data: { ok: true } });
      await client.hset(await recordOf(userId), field, value);
      expect(await sessions.validate(s.sessionId)).toBeNull();
      expect(await sessions.touch(s.sessionId)).toBe(false);
      expect(await sessions.list(userId)).toEqual([]);
      // A refresh copies the record as it is: whatever it issues is no valid session either.
      const rotated = await sessions.refresh(s.refreshToken);
      if (rotated) expect(await sessions.validate(rotated.sessionId)).toBeNull();
      expect(await sessions.revokeAll(userId)).toBeGreaterThanOrEqual(0);
    }
    // Garbage in the refresh record and the index does not break the next session of the user.
    const userId = `corrupt-records-${randomUUID()}`;
    const s = await sessions.create({ userId });
    const rKeys = await client.keys(`h:${keys(userId).base.replace(/[{}]/g, '\\$&')}r:*`);
    for (const k of rKeys) await client.set(k, 'g:garbage');
    expect(await sessions.refresh(s.refreshToken)).toBeNull();
    await client.call('ZADD', `h:${keys(userId).idx}`, '9000000000000000', 'not-a-hash');
    expect(await sessions.validate(s.sessionId)).not.toBeNull();
    expect((await sessions.list(userId)).length).toBe(1);
  });

  it('a burst of 20 refreshes of one token from two instances: every caller gets the same pair, nothing is revoked', async () => {
    const a = instance();
    const b = instance();
    const reuse: RefreshReuseEvent[] = [];
    a.onReuseDetected((e) => reuse.push(e));
    b.onReuseDetected((e) => reuse.push(e));
    const created = await a.create({ userId: `burst-${randomUUID()}` });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).refresh(created.refreshToken)));
    expect(results.every((r) => r !== null)).toBe(true);
    expect(new Set(results.map((r) => r!.sessionId)).size).toBe(1);
    expect(await b.validate(results[0]!.sessionId)).not.toBeNull();
    expect(reuse).toEqual([]);
  });
});
