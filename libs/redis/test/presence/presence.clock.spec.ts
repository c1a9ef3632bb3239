import { afterAll, afterEach, describe, expect, it, jest } from '@jest/globals';
import { waitUntil } from '@nestjs-redis-kit/test-support';
import { PresenceService } from '../../src/presence/presence.service.js';
import { sharedRedisEngines, type EngineTarget } from '../redis-targets.js';

const standalone = sharedRedisEngines('standalone');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process clock jumps (NTP step, VM resume): Redis TIME decides what is live, not the app's clock. */
describe('presence when the local clock jumps', () => {
  const targets: EngineTarget[] = [];
  const services: PresenceService[] = [];
  const realNow = Date.now.bind(Date);

  afterEach(async () => {
    jest.restoreAllMocks();
    for (const s of services.splice(0)) await s.onModuleDestroy();
    for (const t of targets.splice(0)) await t.close();
  });
  afterAll(() => {
    jest.restoreAllMocks();
  });

  it('an hour forward then two back: live sockets stay, a stopped instance still lapses within ttl', async () => {
    for (let i = 0; i < 3; i++) targets.push(await standalone('clock:'));
    const options = { ttl: '1500ms', heartbeat: '300ms' };
    const [a, b, stopped] = targets.map((t) => new PresenceService(t.engine, options)) as [PresenceService, PresenceService, PresenceService];
    a.onModuleInit();
    b.onModuleInit();
    services.push(a, b);

    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000);
    await a.connect('alice', 's1');
    await stopped.connect('ghost', 'g1'); // never beats: a crashed instance
    expect(await b.onlineUsers()).toEqual(['alice', 'ghost']);

    jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
    await sleep(700);
    expect(await b.onlineUsers()).toEqual(['alice', 'ghost']);
    await waitUntil(async () => !(await b.isOnline('ghost')), { timeoutMs: 6_000, what: 'the stopped instance’s user to lapse' });
    await sleep(1_500);
    expect(await b.onlineUsers()).toEqual(['alice']);
    expect(await a.socketsOf('alice')).toEqual(['s1']);
  }, 30_000);
});
