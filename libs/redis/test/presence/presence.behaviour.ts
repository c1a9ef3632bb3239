import { afterEach, describe, expect, it } from '@jest/globals';
import { waitUntil } from '@nestjs-redis-kit/test-support';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import { PresenceInputError } from '../../src/presence/presence.errors.js';
import type { PresenceOptions } from '../../src/presence/presence.options.js';
import { PresenceService } from '../../src/presence/presence.service.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two app instances' engines on one store, and how to close them. */
export interface EnginePair {
  a: StoreEngine;
  b: StoreEngine;
  /** A third engine on the same store, for an instance that is left to crash. */
  c: StoreEngine;
  close(): Promise<void>;
}

/** Ids no user, socket or room should be able to escape its key segment or collide with. */
export const AWKWARD_IDS = ['a:b', '*', '{x}', 'a|b', '..', 'ünï🌍', 'a/b', '%41', 'A', '[ab]', '?', ' ', '\n', 'x'.repeat(256)];
export const HOSTILE_IDS: unknown[] = ['', 'x'.repeat(257), '\uD800', 42, null, undefined, {}];

const FAST: PresenceOptions = { ttl: '1500ms', heartbeat: '300ms' };

/**
 * What users of presence see across two instances on one store. Every test opens its own pair
 * (its own key prefix, or its own memory store), so tests never see each other's users.
 */
export function runPresenceBehaviour(label: string, openPair: () => Promise<EnginePair>): void {
  describe(`presence: ${label}`, () => {
    let pair: EnginePair | undefined;
    const services: PresenceService[] = [];

    const instances = async (options: PresenceOptions = FAST) => {
      pair = await openPair();
      const a = new PresenceService(pair.a, options);
      const b = new PresenceService(pair.b, options);
      a.onModuleInit();
      b.onModuleInit();
      services.push(a, b);
      return { a, b, c: pair.c };
    };

    afterEach(async () => {
      for (const s of services.splice(0)) await s.onModuleDestroy();
      await pair?.close();
      pair = undefined;
    });

    it('a socket connected on A is seen on B, and gone on both once disconnected', async () => {
      const { a, b } = await instances();
      expect(await b.isOnline('alice')).toBe(false);
      await a.connect('alice', 's1');
      expect(await b.isOnline('alice')).toBe(true);
      expect(await b.socketsOf('alice')).toEqual(['s1']);
      expect(await b.onlineUsers()).toEqual(['alice']);
      await b.connect('bob', 's2');
      await a.connect('alice', 's3');
      expect(await a.onlineUsers()).toEqual(['alice', 'bob']);
      expect(await b.socketsOf('alice')).toEqual(['s1', 's3']);
      await a.disconnect('s1');
      expect(await b.socketsOf('alice')).toEqual(['s3']);
      await a.disconnect('s3');
      expect(await b.isOnline('alice')).toBe(false);
      expect(await b.socketsOf('alice')).toEqual([]);
      expect(await a.onlineUsers()).toEqual(['bob']);
    });

    it('rooms: join and leave on either instance, onlineUsers(room), a disconnect leaves every room', async () => {
      const { a, b } = await instances();
      await a.connect('alice', 'sa');
      await b.connect('bob', 'sb');
      await b.connect('bob', 'sb2');
      await a.join('sa', 'lobby');
      await b.join('sb', 'lobby');
      await b.join('sb2', 'lobby');
      await b.join('sb', 'support');
      expect(await a.onlineUsers('lobby')).toEqual(['alice', 'bob']);
      expect(await a.onlineUsers('support')).toEqual(['bob']);
      expect(await a.onlineUsers('empty')).toEqual([]);
      // bob still has a socket in the lobby after one of his leaves
      await b.leave('sb', 'lobby');
      expect(await a.onlineUsers('lobby')).toEqual(['alice', 'bob']);
      await b.leave('sb', 'lobby'); // not there any more: no-op
      await b.leave('unknown-socket', 'lobby'); // unknown: no-op
      await b.disconnect('sb2');
      expect(await a.onlineUsers('lobby')).toEqual(['alice']);
      await b.disconnect('sb');
      expect(await a.onlineUsers('support')).toEqual([]);
      await expect(a.join('not-connected', 'lobby')).rejects.toThrow(PresenceInputError);
      await expect(a.join('not-connected', 'lobby')).rejects.toThrow(/not connected on this instance/);
    });

    it('counts stay right across reconnects, double connects and disconnects, unknown and reused socket ids', async () => {
      const { a, b } = await instances();
      // reconnect: the new socket arrives (on the other instance) before the old one is noticed gone
      await a.connect('alice', 'old');
      await a.join('old', 'room');
      await b.connect('alice', 'new');
      await b.join('new', 'room');
      await a.disconnect('old');
      expect(await a.isOnline('alice')).toBe(true);
      expect(await a.socketsOf('alice')).toEqual(['new']);
      expect(await a.onlineUsers('room')).toEqual(['alice']);
      // double connect and double disconnect
      await b.connect('alice', 'new');
      expect(await a.socketsOf('alice')).toEqual(['new']);
      await b.disconnect('new');
      await b.disconnect('new');
      await b.disconnect('never-seen');
      expect(await a.isOnline('alice')).toBe(false);
      expect(await a.onlineUsers('room')).toEqual([]);
      // a socket id reused by the same user on both instances (connection-state recovery): one
      // instance letting go of it does not take the other's off
      await a.connect('carol', 'same');
      await b.connect('carol', 'same');
      await a.disconnect('same');
      expect(await a.socketsOf('carol')).toEqual(['same']);
      await b.disconnect('same');
      expect(await a.isOnline('carol')).toBe(false);
      // a socket id reused on one instance by another user moves to that user
      await a.connect('dave', 'sid');
      await a.join('sid', 'r');
      await a.connect('erin', 'sid');
      expect(await b.isOnline('dave')).toBe(false);
      expect(await b.socketsOf('erin')).toEqual(['sid']);
      expect(await b.onlineUsers('r')).toEqual([]);
      expect(await b.onlineUsers()).toEqual(['erin']);
    });

    it('concurrent connects and disconnects of many sockets leave exactly the live ones', async () => {
      const { a, b } = await instances();
      const ids = Array.from({ length: 200 }, (_, i) => i);
      await Promise.all(ids.map((i) => (i % 2 ? a : b).connect(`u${i % 20}`, `s${i}`)));
      await Promise.all(ids.map((i) => (i % 2 ? a : b).join(`s${i}`, `room${i % 3}`)));
      await Promise.all(ids.filter((i) => i % 4 === 0).map((i) => b.disconnect(`s${i}`)));
      const live = ids.filter((i) => i % 4 !== 0);
      for (const u of [0, 1, 4, 7]) {
        expect(await a.socketsOf(`u${u}`)).toEqual(live.filter((i) => i % 20 === u).map((i) => `s${i}`).sort());
      }
      expect(await a.onlineUsers()).toEqual([...new Set(live.map((i) => `u${i % 20}`))].sort());
      expect(await b.onlineUsers('room1')).toEqual([...new Set(live.filter((i) => i % 3 === 1).map((i) => `u${i % 20}`))].sort());
    });

    it('calls not awaited one by one land in the order they were made', async () => {
      const { a, b } = await instances();
      await Promise.all([a.connect('zoe', 's'), a.join('s', 'r'), a.disconnect('s'), a.connect('zoe', 's'), a.disconnect('s')]);
      expect(await b.isOnline('zoe')).toBe(false);
      expect(await b.onlineUsers('r')).toEqual([]);
      await Promise.all([a.connect('zoe', 's'), a.disconnect('s'), a.connect('zoe', 's'), a.join('s', 'r'), a.leave('s', 'r'), a.join('s', 'r')]);
      expect(await b.socketsOf('zoe')).toEqual(['s']);
      expect(await b.onlineUsers('r')).toEqual(['zoe']);
    });

    it('a status follows its user: set on one instance, read on the other, gone with the last socket', async () => {
      const { a, b } = await instances();
      await a.connect('agent', 's1');
      await a.connect('agent', 's2');
      expect(await b.status('agent')).toBeUndefined();
      await b.setStatus('agent', 'available'); // set from an instance that holds none of the sockets
      expect(await a.status('agent')).toBe('available');
      await a.setStatus('agent', 'busy');
      expect(await b.status('agent')).toBe('busy');
      await a.disconnect('s1');
      expect(await b.status('agent')).toBe('busy');
      await a.disconnect('s2');
      expect(await b.status('agent')).toBeUndefined();
      await a.connect('agent', 's3');
      expect(await b.status('agent')).toBeUndefined();
      // a user with no live socket gets no status
      await b.setStatus('nobody', 'available');
      expect(await a.status('nobody')).toBeUndefined();
    });

    it('the heartbeat keeps live sockets listed for many ttls; an instance that stops beating lapses within ttl', async () => {
      const { a, b, c: crashedEngine } = await instances({ ttl: '1s', heartbeat: '200ms' });
      // An instance that connects and then never beats again: what a crashed process leaves behind.
      const crashed = new PresenceService(crashedEngine, { ttl: '1s', heartbeat: '200ms' });
      await crashed.connect('ghost', 'g1');
      await crashed.join('g1', 'room');
      await crashed.setStatus('ghost', 'available');
      await a.connect('alive', 'a1');
      await a.join('a1', 'room');
      expect(await b.onlineUsers('room')).toEqual(['alive', 'ghost']);
      const started = Date.now();
      await waitUntil(async () => !(await b.isOnline('ghost')), { timeoutMs: 5_000, what: 'the crashed instance’s user to go offline' });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await b.onlineUsers('room')).toEqual(['alive']);
      expect(await b.onlineUsers()).toEqual(['alive']);
      expect(await b.status('ghost')).toBeUndefined();
      // the live instance's user stayed online all along, well past its ttl
      await sleep(1_500);
      expect(await b.isOnline('alive')).toBe(true);
      expect(await b.socketsOf('alive')).toEqual(['a1']);
    });

    it('shutting an instance down takes its users offline at once', async () => {
      const { a, b } = await instances({ ttl: '30s', heartbeat: '10s' });
      await a.connect('alice', 's1');
      await a.join('s1', 'room');
      await b.connect('bob', 's2');
      await a.onModuleDestroy();
      expect(await b.isOnline('alice')).toBe(false);
      expect(await b.onlineUsers('room')).toEqual([]);
      expect(await b.onlineUsers()).toEqual(['bob']);
    });

    it('awkward ids keep to their own user, socket and room; hostile ones are refused', async () => {
      const { a, b } = await instances();
      const socketOf = (id: string, i: number) => `${id.slice(0, 200)}#${i}`;
      for (const [i, id] of AWKWARD_IDS.entries()) {
        await a.connect(id, socketOf(id, i));
        await a.join(socketOf(id, i), id);
      }
      expect(await b.onlineUsers()).toEqual([...AWKWARD_IDS].sort());
      for (const [i, id] of AWKWARD_IDS.entries()) {
        expect(await b.socketsOf(id)).toEqual([socketOf(id, i)]);
        expect(await b.onlineUsers(id)).toEqual([id]);
      }
      await a.setStatus('a|b', 'x|y{z}');
      expect(await b.status('a|b')).toBe('x|y{z}');
      expect(await b.status('a')).toBeUndefined();
      for (const bad of HOSTILE_IDS) {
        await expect(a.connect(bad as string, 's')).rejects.toThrow(PresenceInputError);
        await expect(a.connect('u', bad as string)).rejects.toThrow(PresenceInputError);
        await expect(a.join('s', bad as string)).rejects.toThrow(PresenceInputError);
        await expect(b.isOnline(bad as string)).rejects.toThrow(PresenceInputError);
        // onlineUsers() without a room is the whole index
        if (bad !== undefined) await expect(b.onlineUsers(bad as string)).rejects.toThrow(PresenceInputError);
        await expect(a.setStatus('u', bad as string)).rejects.toThrow(PresenceInputError);
      }
      await expect(a.connect('', 's')).rejects.toMatchObject({ code: 'E_PRESENCE_INPUT', message: expect.stringMatching(/user id/) });
      expect(await b.onlineUsers()).toEqual([...AWKWARD_IDS].sort());
    });
  });
}
