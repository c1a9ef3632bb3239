import { describe, expect, it } from '@jest/globals';
import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { redisOptionsFromEnv } from '../../src/config/redis-env.loader.js';
import { resolveSessionOptions } from '../../src/session/session.options.js';
import { SessionService } from '../../src/session/session.service.js';
import { useInstances } from './session.instances.js';

/** Every spelling of the user id a reader of the token could try. */
function encodings(userId: string): string[] {
  const bytes = Buffer.from(userId, 'utf8');
  const b64 = bytes.toString('base64');
  return [userId, b64, b64.replace(/=+$/, ''), bytes.toString('base64url'), bytes.toString('hex'), bytes.toString('hex').toUpperCase(), encodeURIComponent(userId)];
}

const USERS = ['alice@example.com', '1234567890', 'user-42-admin', 'Zoë Ångström', '550e8400-e29b-41d4-a716-446655440000'];

describe('session ids and refresh tokens reveal nothing about the user (issue 13)', () => {
  const { instance, redis } = useInstances('opaque:');

  it('no encoding of the user id (plain, base64, base64url, hex) appears in a session id or refresh token', async () => {
    const sessions = instance();
    for (const userId of USERS) {
      const created = await sessions.create({ userId });
      const rotated = (await sessions.refresh(created.refreshToken))!;
      for (const token of [created.sessionId, created.refreshToken, rotated.sessionId, rotated.refreshToken]) {
        expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
        const lower = token.toLowerCase();
        for (const spelled of encodings(userId)) expect(lower).not.toContain(spelled.toLowerCase());
      }
      expect(await sessions.validate(rotated.sessionId)).toMatchObject({ userId });
    }
  });

  it('no user id in the keys either; instances on one Redis share the generated secret', async () => {
    const a = instance();
    const b = instance();
    const created = await a.create({ userId: 'bob@example.com' });
    expect(await b.validate(created.sessionId)).toMatchObject({ userId: 'bob@example.com' });
    expect((await b.list('bob@example.com')).length).toBe(1);
    expect(await b.revokeAll('bob@example.com')).toBe(1);
    const keys = (await redis().keys('opaque:*')).join('\n').toLowerCase();
    for (const userId of [...USERS, 'bob@example.com']) for (const spelled of encodings(userId)) expect(keys).not.toContain(spelled.toLowerCase());
    // The generated secret is kept once (SET NX) and never rewritten.
    expect(await redis().pttl('opaque:sess:secret')).toBe(-1);
  });

  it('a configured secret routes every instance the same way, and a different one routes elsewhere', async () => {
    const secret = 'k'.repeat(40);
    const a = instance({ secret });
    const b = instance({ secret });
    const other = instance({ secret: 'z'.repeat(40) });
    const created = await a.create({ userId: 'carol' });
    expect(created.sessionId.split('.')[0]).toBe((await b.create({ userId: 'carol' })).sessionId.split('.')[0]);
    expect(await b.validate(created.sessionId)).toMatchObject({ userId: 'carol' });
    expect(await b.list('carol')).toHaveLength(2);
    // Another secret computes another tag for carol: it cannot find her sessions by user id.
    expect(await other.list('carol')).toEqual([]);
    expect(() => resolveSessionOptions({ secret: 'short' })).toThrow(/session.secret must be a string of at least 32 characters/);
  });

  it('REDIS_SESSION_SECRET sets session.secret; a short one stops start-up without echoing it', () => {
    expect(redisOptionsFromEnv({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SESSION_SECRET: 'q'.repeat(44) })).toMatchObject({ session: { secret: 'q'.repeat(44) } });
    let message = '';
    try {
      redisOptionsFromEnv({ REDIS_SESSION_SECRET: 'tooShortSecret' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/REDIS_SESSION_SECRET must be at least 32 characters/);
    expect(message).not.toContain('tooShortSecret');
  });

  it('hashIp stores the client IP as a keyed hash, never in clear', async () => {
    const sessions = instance({ hashIp: true, secret: 's'.repeat(40) });
    const created = await sessions.create({ userId: 'dave', ip: '203.0.113.77' });
    const seen = await sessions.validate(created.sessionId);
    expect(seen!.ip).toMatch(/^hmac:[A-Za-z0-9_-]{22}$/);
    expect((await sessions.list('dave'))[0]!.ip).toBe(seen!.ip);
    const all: string[] = [];
    for (const key of await redis().keys('opaque:sess:*')) if ((await redis().type(key)) === 'hash') all.push(...Object.values(await redis().hgetall(key)));
    expect(all.join('\n')).not.toContain('203.0.113.77');
    // The same IP hashes the same way, so "new device/location" checks still work.
    const again = await sessions.create({ userId: 'dave', ip: '203.0.113.77' });
    expect((await sessions.validate(again.sessionId))!.ip).toBe(seen!.ip);
  });

  it('the embedded memory store works without any configured secret', async () => {
    const engine = new MemoryEngine({ maxEntries: 1_000, maxBytes: 1024 * 1024 });
    const sessions = new SessionService(engine, { sweepInterval: 0 });
    const created = await sessions.create({ userId: 'erin' });
    expect(await sessions.validate(created.sessionId)).toMatchObject({ userId: 'erin' });
    sessions.close();
    await engine.close();
  });
});
