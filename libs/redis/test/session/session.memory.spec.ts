import { describe, expect, it } from '@jest/globals';
import { runSessionSuite } from './session.behaviour.js';
import { MemoryEngine } from '../../src/engine/memory.engine.js';
import { SessionService } from '../../src/session/session.service.js';
import { TokenDenylist } from '../../src/session/token-denylist.service.js';

runSessionSuite('the memory engine', async () => {
  const engine = new MemoryEngine({ maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 });
  return { engine, close: () => engine.close() };
});

describe('the embedded memory store', () => {
  it('is no outage: sessions validate under the default reject policy, and WAIT confirms nothing', async () => {
    const engine = new MemoryEngine({ maxEntries: 1_000, maxBytes: 1024 * 1024 });
    const sessions = new SessionService(engine, { durability: 'replicated', sweepInterval: 0 });
    const unconfirmed: string[] = [];
    sessions.on('replication-unconfirmed', (e) => unconfirmed.push(e.operation));
    const s = await sessions.create({ userId: 'solo' });
    expect(await sessions.validate(s.sessionId)).not.toBeNull();
    expect(await new TokenDenylist(engine).isDenied({ jti: 'a', iss: 'b' })).toBe(false);
    expect(await sessions.revoke(s.sessionId)).toBe(true);
    expect(unconfirmed).toEqual(['revoke']);
    sessions.close();
    await engine.close();
  });
});
