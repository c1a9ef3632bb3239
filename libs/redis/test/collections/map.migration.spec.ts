import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MigrationAbortedError } from '../../src/collections/collections.errors.js';
import { RedisCollections } from '../../src/collections/collections.service.js';
import { migrateMap, type MigrationProgress } from '../../src/collections/map.migration.js';
import { sharedRedisEngines, type EngineTarget } from '../redis-targets.js';

const ENTRIES = 100_000;

interface Booking {
  id: number;
  organizer: string;
  seats: number;
  at: Date;
  note: string;
}

function bookings(n: number): Map<string, Booking> {
  const map = new Map<string, Booking>();
  for (let i = 0; i < n; i++) map.set(`booking:${i}`, { id: i, organizer: `org-${i % 97}`, seats: 1 + (i % 5), at: new Date(1_700_000_000_000 + i), note: 'x'.repeat(i % 64) });
  return map;
}

const topologies = { standalone: sharedRedisEngines('standalone'), cluster: sharedRedisEngines('cluster') };

describe.each(Object.keys(topologies) as (keyof typeof topologies)[])('migrateMap on Redis %s', (topology) => {
  const open = topologies[topology];
  let target: EngineTarget;
  let c: RedisCollections;
  const source = bookings(ENTRIES);

  beforeAll(async () => {
    target = await open(`mig-${topology}:`);
    c = new RedisCollections(target.engine);
  });
  afterAll(async () => {
    await target?.close();
  });

  it('a dry run writes nothing and reports what it would do', async () => {
    const m = c.map<Booking>('dry');
    await m.set('booking:5', { id: -1, organizer: 'newer', seats: 9, at: new Date(0), note: '' });
    const seen: MigrationProgress[] = [];
    const report = await migrateMap(source, m, { dryRun: true, batchSize: 1_000, onProgress: (p) => void seen.push(p) });
    expect(report).toMatchObject({ dryRun: true, processed: ENTRIES, total: ENTRIES, written: ENTRIES - 1, kept: 1, batches: 100 });
    expect(report.verification).toBeUndefined();
    expect(seen).toHaveLength(100);
    expect(await m.size()).toBe(1);
    // No checkpoint either: a real run afterwards starts from the beginning.
    const real = await migrateMap(bookings(10), m, { verify: false });
    expect(real).toMatchObject({ resumedFrom: 0, written: 9, kept: 1 });
  });

  it(`moves ${ENTRIES} entries, verified; a crash halfway, then a re-run finishes with every entry written once`, async () => {
    const m = c.map<Booking>('bookings', { tenant: 'org-all' });
    let lastWritten = 0;
    const crash = migrateMap(source, m, {
      batchSize: 500,
      onProgress: (p) => {
        lastWritten = p.written;
        if (p.batches >= 100) throw new Error('simulated crash');
      },
    });
    const error = await crash.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationAbortedError);
    const done = (error as MigrationAbortedError).completedEntries;
    expect(done).toBeGreaterThanOrEqual(100 * 500 - 4 * 500);
    expect(done).toBeLessThan(ENTRIES);
    expect(await m.size()).toBe(lastWritten);

    // Someone updates a migrated entry before the re-run: the re-run must not put the old value back.
    await m.set('booking:7', { id: 7, organizer: 'changed', seats: 99, at: new Date(7), note: 'newer' });

    const report = await migrateMap(source, m, { batchSize: 500, verify: { sample: 500 } });
    expect(report.resumedFrom).toBe(done);
    expect(report.processed).toBe(ENTRIES);
    // HSETNX semantics: across both runs, every key was written exactly once.
    expect(lastWritten + report.written).toBe(ENTRIES);
    expect(await m.size()).toBe(ENTRIES);
    expect(report.verification).toMatchObject({ sourceCount: ENTRIES, targetCount: ENTRIES, missing: [] });
    expect(report.verification!.different.filter((k) => k !== 'booking:7')).toEqual([]);
    expect(await m.get('booking:7')).toMatchObject({ organizer: 'changed', seats: 99 });
    expect(await m.getMany(['booking:0', 'booking:99999'])).toEqual([source.get('booking:0'), source.get('booking:99999')]);

    // A third run finds the checkpoint complete and writes nothing.
    const again = await migrateMap(source, m, { batchSize: 500 });
    expect(again).toMatchObject({ resumedFrom: ENTRIES, written: 0 });
    expect(again.verification!.ok || again.verification!.different.every((k) => k === 'booking:7')).toBe(true);
  });

  it('overwrite: true replaces existing entries; restart ignores the checkpoint; async sources work', async () => {
    const m = c.map<number>('numbers');
    await m.set('a', 100);
    async function* numbers(): AsyncIterable<readonly [string | number, number]> {
      yield ['a', 1];
      yield ['b', 2];
      yield [3, 3];
    }
    const first = await migrateMap(numbers(), m, { batchSize: 2 });
    expect(first).toMatchObject({ written: 2, kept: 1, total: undefined });
    expect(first.verification).toMatchObject({ ok: false, different: ['a'] });
    const forced = await migrateMap(numbers(), m, { overwrite: true, restart: true });
    expect(forced).toMatchObject({ written: 3, kept: 0, resumedFrom: 0 });
    expect(forced.verification!.ok).toBe(true);
    expect(await m.entries()).toEqual(expect.arrayContaining([['a', 1], ['b', 2], ['3', 3]]));
  });

  it('a bad entry or a failing source stops at a checkpoint, and values that cannot be stored are named', async () => {
    const m = c.map<unknown>('bad');
    const source = new Map<string, unknown>([...Array(1_000).keys()].map((i) => [`k${i}`, i]));
    source.set('', 'an empty key');
    const error = await migrateMap(source, m, { batchSize: 100 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationAbortedError);
    expect(String((error as Error).cause)).toMatch(/non-empty string/);
    expect((error as MigrationAbortedError).completedEntries).toBe(1_000);
    async function* failing(): AsyncIterable<[string, number]> {
      yield ['a', 1];
      throw new Error('source broke');
    }
    await expect(migrateMap(failing(), c.map('bad2'))).rejects.toMatchObject({ cause: new Error('source broke') });
    const fn = await migrateMap(new Map([['f', () => 1]]), c.map('bad3')).catch((e: unknown) => e);
    expect(fn).toBeInstanceOf(MigrationAbortedError);
  });

  it('migrates into a map with per-entry TTL', async () => {
    const m = c.map<string>('ttl', { ttl: '1h', tenant: 't:{1}' });
    const report = await migrateMap(new Map([...Array(1_234).keys()].map((i) => [`k${i}`, `v${i}`])), m, { batchSize: 100 });
    expect(report).toMatchObject({ written: 1_234, verification: { ok: true, targetCount: 1_234 } });
    const rerun = await migrateMap(new Map([['k1', 'other']]), m, { restart: true });
    expect(rerun).toMatchObject({ written: 0, kept: 1 });
    expect(await m.get('k1')).toBe('v1');
  });
});
