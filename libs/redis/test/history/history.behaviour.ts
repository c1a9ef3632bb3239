import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HISTORY_APPEND } from '../../src/engine/scripts/history.scripts.js';
import type { StoreEngine } from '../../src/engine/store-engine.port.js';
import { HistoryInputError } from '../../src/history/history.errors.js';
import { MessageHistory } from '../../src/history/history.service.js';
import type { EngineTarget } from '../redis-targets.js';

/**
 * What a user of MessageHistory sees, on every store: appends, reads, the cap, duplicates by mid
 * and refused input. Each test uses its own room, so stores shared between suites do not mix.
 */
export function runHistoryBehaviour(name: string, open: () => Promise<EngineTarget>): void {
  describe(`MessageHistory on ${name}`, () => {
    let target: EngineTarget;
    let engine: StoreEngine;
    let history: MessageHistory;
    const room = () => `trip-${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      target = await open();
      engine = target.engine;
      history = MessageHistory.create(engine, { maxLength: 5, maxMessageBytes: 64 });
    });
    afterAll(async () => {
      await target?.close();
    });

    it('appends messages and reads the last N and everything since an id, oldest first', async () => {
      const r = room();
      const sent = [];
      for (let i = 1; i <= 4; i++) sent.push(await history.append(r, { from: `user-${i % 2}`, body: `hello ${i} 🌍` }));
      expect(sent.map((m) => m.body)).toEqual(['hello 1 🌍', 'hello 2 🌍', 'hello 3 🌍', 'hello 4 🌍']);
      for (const m of sent) {
        expect(m.room).toBe(r);
        expect(m.id).toMatch(/^\d+-\d+$/);
        expect(m.mid).toMatch(/^[0-9a-f-]{36}$/);
        expect(Math.abs(m.ts - Date.now())).toBeLessThan(10_000);
      }
      expect(new Set(sent.map((m) => m.mid)).size).toBe(4);
      expect(await history.last(r)).toEqual(sent);
      expect(await history.last(r, 2)).toEqual(sent.slice(2));
      expect(await history.since(r, sent[1]!.id)).toEqual(sent.slice(2));
      expect(await history.since(r, sent[0]!.id, 2)).toEqual(sent.slice(1, 3));
      expect(await history.since(r, '0-0')).toEqual(sent);
      expect(await history.since(r, sent[3]!.id)).toEqual([]);
      expect(await history.last(room())).toEqual([]);
      expect(await history.since(room(), '0-0')).toEqual([]);
    });

    it('gives strictly increasing ids within a room, even for appends in the same millisecond', async () => {
      const r = room();
      const sent = await Promise.all(Array.from({ length: 5 }, (_, i) => history.append(r, { from: 'a', body: String(i) })));
      const ids = (await history.last(r, 5)).map((m) => m.id);
      const key = (id: string) => id.split('-').map(Number) as [number, number];
      for (let i = 1; i < ids.length; i++) {
        const [a, b] = [key(ids[i - 1]!), key(ids[i]!)];
        expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
      }
      expect(new Set(sent.map((m) => m.id)).size).toBe(5);
    });

    it('keeps the newest maxLength messages of a room, exactly', async () => {
      const r = room();
      const sent = [];
      for (let i = 0; i < 12; i++) sent.push(await history.append(r, { from: 'a', body: `m${i}` }));
      expect((await history.last(r, 100)).map((m) => m.body)).toEqual(['m7', 'm8', 'm9', 'm10', 'm11']);
      expect(await engine.xlen(`history:{${r}}`)).toBe(5);
      // The mid index is trimmed with the stream: it never holds more than the cap.
      expect(await engine.hlen(`history:{${r}}:mids`)).toBe(5);
      expect(await history.since(r, sent[0]!.id)).toEqual(sent.slice(7));
    });

    it('stores a mid once: a second append returns the stored message and adds nothing', async () => {
      const r = room();
      const first = await history.append(r, { from: 'ann', body: 'once', mid: 'client-1:msg.7' });
      await history.append(r, { from: 'bob', body: 'between' });
      const again = await history.append(r, { from: 'ann', body: 'once', mid: 'client-1:msg.7' });
      expect(again).toEqual(first);
      // Even with different content, the first one stands.
      const changed = await history.append(r, { from: 'eve', body: 'forged', mid: 'client-1:msg.7' });
      expect(changed).toEqual(first);
      expect((await history.last(r)).map((m) => m.body)).toEqual(['once', 'between']);
      // Many concurrent appends of one mid: one entry.
      const racing = await Promise.all(Array.from({ length: 8 }, () => history.append(r, { from: 'c', body: 'race', mid: 'race-1' })));
      expect(new Set(racing.map((m) => m.id)).size).toBe(1);
      expect((await history.last(r)).filter((m) => m.mid === 'race-1')).toHaveLength(1);
    });

    it('a mid trimmed out of the history is no longer known (the dedupe window is the cap)', async () => {
      const r = room();
      await history.append(r, { from: 'a', body: 'old', mid: 'm-old' });
      for (let i = 0; i < 5; i++) await history.append(r, { from: 'a', body: `n${i}` });
      expect((await history.last(r)).some((m) => m.mid === 'm-old')).toBe(false);
      const back = await history.append(r, { from: 'a', body: 'old', mid: 'm-old' });
      expect((await history.last(r, 1))[0]).toEqual(back);
    });

    it('keeps rooms apart, including hostile room names, each in its own hash-tagged stream', async () => {
      const hostile = ['a}b{', 'x:y', '*', 'room with spaces', 'é🌍', '..', '{t}'];
      for (const name of hostile) await history.append(name, { from: 'u', body: `in ${name}` });
      for (const name of hostile) expect((await history.last(name)).map((m) => m.body)).toEqual([`in ${name}`]);
      // Encoded into the tag: a brace in a name cannot move the room to another hash slot.
      expect(await engine.xlen('history:{a%7Db%7B}')).toBe(1);
      expect(await engine.xlen('history:{%7Bt%7D}')).toBe(1);
    });

    it('refuses bad input with HistoryInputError and stores nothing', async () => {
      const r = room();
      const bad: [unknown, unknown][] = [
        ['', { from: 'a', body: 'b' }],
        [42, { from: 'a', body: 'b' }],
        ['r'.repeat(300), { from: 'a', body: 'b' }],
        ['\uD800', { from: 'a', body: 'b' }],
        [r, null],
        [r, 'text'],
        [r, ['a', 'b']],
        [r, { from: 'a' }],
        [r, { body: 'b' }],
        [r, { from: '', body: 'b' }],
        [r, { from: 7, body: 'b' }],
        [r, { from: 'a', body: '' }],
        [r, { from: 'a', body: 12 }],
        [r, { from: 'a', body: 'x\uDC00' }],
        [r, { from: 'a', body: 'x'.repeat(64) }],
        [r, { from: 'a', body: 'é'.repeat(32) }],
        [r, { from: 'a', body: 'b', mid: '' }],
        [r, { from: 'a', body: 'b', mid: 'm'.repeat(129) }],
        [r, { from: 'a', body: 'b', mid: 'has space' }],
        [r, { from: 'a', body: 'b', mid: 'a{b}' }],
        [r, { from: 'a', body: 'b', mid: 5 }],
        [r, { from: 'a', body: 'b', admin: true }],
      ];
      for (const [roomName, message] of bad) {
        await expect(history.append(roomName as string, message as { from: string; body: string })).rejects.toBeInstanceOf(HistoryInputError);
      }
      await expect(history.append(r, { from: 'a', body: 'x'.repeat(63) })).resolves.toMatchObject({ body: 'x'.repeat(63) });
      await expect(history.append(r, { from: 'a', body: 'b', mid: 'm'.repeat(128) })).resolves.toMatchObject({ mid: 'm'.repeat(128) });
      const error = await history.append(r, { from: 'a', body: 'x'.repeat(100) }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'E_HISTORY_INPUT', message: expect.stringMatching(/101 bytes.*maxMessageBytes = 64/) });
      expect((await history.last(r)).map((m) => m.body)).toEqual(['x'.repeat(63), 'b']);
    });

    it('refuses bad read arguments with HistoryInputError', async () => {
      const r = room();
      for (const count of [0, -1, 1.5, Number.NaN, '5', null]) await expect(history.last(r, count as number)).rejects.toBeInstanceOf(HistoryInputError);
      for (const id of ['', 'abc', '1-', '-1', '1-2-3', '(1-0', '+', '-', '99999999999999999-0', '1-99999999999999999', 12]) {
        await expect(history.since(r, id as string)).rejects.toBeInstanceOf(HistoryInputError);
      }
      await expect(history.since(r, '0-0', 0)).rejects.toBeInstanceOf(HistoryInputError);
      await expect(history.last('', 1)).rejects.toBeInstanceOf(HistoryInputError);
    });

    it('skips entries it did not write (missing fields, oversized) and still reads the rest', async () => {
      const r = room();
      const key = `history:{${r}}`;
      const history = MessageHistory.create(engine, { maxLength: 50, maxMessageBytes: 64 });
      const good1 = await history.append(r, { from: 'a', body: 'good 1' });
      await engine.xadd(key, { junk: 'yes' });
      await engine.xadd(key, { mid: 'm1', ts: 'not-a-time', from: 'a', body: 'x' });
      await engine.xadd(key, { mid: 'm2', ts: String(Date.now()), from: 'a', body: 'y'.repeat(10_000) });
      await engine.xadd(key, { mid: 'm3', ts: String(Date.now()), body: 'no from' });
      const good2 = await history.append(r, { from: 'b', body: 'good 2' });
      expect(await history.last(r, 10)).toEqual([good1, good2]);
      expect(await history.since(r, good1.id)).toEqual([good2]);
    });

    it('a room key holding another type reads as an empty history; an append to it is refused, not stored elsewhere', async () => {
      const r = room();
      await engine.set(`history:{${r}}`, 'not a stream');
      expect(await history.last(r)).toEqual([]);
      expect(await history.since(r, '0-0')).toEqual([]);
      await expect(history.append(r, { from: 'a', body: 'b' })).rejects.toThrow(/WRONGTYPE/);
      expect(await engine.get(`history:{${r}}`)).toBe('not a stream');
    });

    it('the append script is the one that runs (one round trip, atomic)', async () => {
      // Guards the key layout the module relies on: both keys in one hash slot.
      const r = room();
      const reply = await engine.runScript(HISTORY_APPEND, [`history:{${r}}`, `history:{${r}}:mids`], ['x1', 3, '', 'a', 'b']);
      expect(reply).toEqual([expect.stringMatching(/^\d+-\d+$/), expect.stringMatching(/^\d+$/), 'a', 'b', 1]);
      expect((await history.last(r)).map((m) => m.mid)).toEqual(['x1']);
    });
  });
}
