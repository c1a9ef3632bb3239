import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { RedisEngine } from '../../src/engine/redis.engine.js';
import { SessionService } from '../../src/session/session.service.js';
import { userKeys, userTag } from '../../src/session/session.tokens.js';
import { startCluster, type RedisClusterHandle, type RedisProcess } from '@nestjs-redis-kit/test-support';

const PREFIX = 'mig:';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 13: a user's slot in the middle of a resharding. Redis routes a script by whether its
 * declared keys exist on the migrating node; a script that declared a key that never exists was
 * ASK-redirected to the importing node, where none of the user's keys were yet (spurious logout,
 * revocations lost and later undone). Every step here is what `redis-cli --cluster reshard` does,
 * one command at a time, so the test can stop between them.
 */
describe('sessions while their slot migrates between Cluster masters', () => {
  let cluster: RedisClusterHandle;
  let client: Cluster;
  let sessions: SessionService;
  const ids = new Map<RedisProcess, string>();

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    client = new Cluster(cluster.seeds, { retryDelayOnTryAgain: 20 });
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('error', reject);
    });
    for (const node of await cluster.masters()) ids.set(node, String(await node.command('CLUSTER', 'MYID')));
    sessions = new SessionService(new RedisEngine(client, { keyPrefix: PREFIX }), { sweepInterval: 0 });
  });
  afterAll(async () => {
    sessions?.close();
    client?.disconnect();
    await cluster?.stop();
  });

  async function slotOf(userId: string) {
    const secret = String(await client.get(`${PREFIX}sess:secret`));
    const slot = calculateSlot(PREFIX + userKeys(userTag(Buffer.from(secret), userId)).idx);
    const masters = [...ids.keys()];
    const owner = await ownerOf(slot);
    return { slot, source: owner, target: masters.find((m) => m !== owner)! };
  }

  async function ownerOf(slot: number): Promise<RedisProcess> {
    const view = await cluster.view();
    const entry = view.find((e) => e.slots.some(([a, b]) => slot >= a && slot <= b))!;
    return [...ids].find(([, id]) => id === entry.id)![0];
  }

  async function beginMigration(slot: number, source: RedisProcess, target: RedisProcess) {
    await target.command('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids.get(source)!);
    await source.command('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids.get(target)!);
  }

  async function moveKeys(slot: number, source: RedisProcess, target: RedisProcess, only?: (key: string) => boolean) {
    const keys = ((await source.command('CLUSTER', 'GETKEYSINSLOT', slot, 10_000)) as string[]).filter(only ?? (() => true));
    if (keys.length > 0) await source.command('MIGRATE', target.host, target.port, '', 0, 5_000, 'KEYS', ...keys);
    return keys.length;
  }

  async function finishMigration(slot: number, source: RedisProcess, target: RedisProcess) {
    // The order redis-cli uses: the importing node first (it bumps its epoch), then the source, then the rest.
    const order = [target, source, ...[...ids.keys()].filter((n) => n !== target && n !== source)];
    for (const node of order) await node.command('CLUSTER', 'SETSLOT', slot, 'NODE', ids.get(target)!);
    await cluster.waitUntilHealthy();
    // The client learns the new owner from the MOVED replies that follow.
  }

  it('keys still on the source (slot MIGRATING/IMPORTING): validate finds the session, revoke sticks after the migration', async () => {
    const userId = 'mover-1';
    const a = await sessions.create({ userId, userAgent: 'a' });
    const b = await sessions.create({ userId, userAgent: 'b' });
    const { slot, source, target } = await slotOf(userId);
    await beginMigration(slot, source, target);

    expect(await sessions.validate(a.sessionId)).toMatchObject({ userId, userAgent: 'a' });
    expect((await sessions.list(userId)).map((e) => e.userAgent).sort()).toEqual(['a', 'b']);
    expect(await sessions.revoke(a.sessionId)).toBe(true);
    expect(await sessions.validate(a.sessionId)).toBeNull();
    expect(await sessions.activeSessions()).toBeGreaterThanOrEqual(1);

    expect(await moveKeys(slot, source, target)).toBeGreaterThan(0);
    await finishMigration(slot, source, target);
    expect(await ownerOf(slot)).toBe(target);

    expect(await sessions.validate(a.sessionId)).toBeNull();
    expect(await sessions.refresh(a.refreshToken)).toBeNull();
    expect(await sessions.validate(b.sessionId)).toMatchObject({ userId, userAgent: 'b' });
    expect((await sessions.list(userId)).map((e) => e.userAgent)).toEqual(['b']);
  });

  it('keys already moved, slot still MIGRATING/IMPORTING: the session is found on the target, revoke and revokeAll stick', async () => {
    const userId = 'mover-2';
    const a = await sessions.create({ userId, userAgent: 'a' });
    const b = await sessions.create({ userId, userAgent: 'b' });
    const c = await sessions.create({ userId, userAgent: 'c' });
    const { slot, source, target } = await slotOf(userId);
    await beginMigration(slot, source, target);
    expect(await moveKeys(slot, source, target)).toBeGreaterThan(0);

    expect(await sessions.validate(a.sessionId)).toMatchObject({ userId, userAgent: 'a' });
    expect((await sessions.list(userId)).map((e) => e.userAgent).sort()).toEqual(['a', 'b', 'c']);
    expect(await sessions.revoke(a.sessionId)).toBe(true);
    expect(await sessions.revokeAll(userId, { except: c.sessionId })).toBe(1);
    expect(await sessions.validate(a.sessionId)).toBeNull();
    expect(await sessions.validate(b.sessionId)).toBeNull();
    // A rotation writes keys that do not exist yet, and Redis answers TRYAGAIN to a multi-key
    // command creating keys in a slot mid-migration: the refresh may fail for now (the client
    // retries), but it never revokes the family or answers "unknown token".
    const early = await sessions.refresh(c.refreshToken).catch(() => null);
    expect(await sessions.validate(early?.sessionId ?? c.sessionId)).toMatchObject({ userId, userAgent: 'c' });

    await finishMigration(slot, source, target);
    expect(await sessions.validate(a.sessionId)).toBeNull();
    expect(await sessions.validate(b.sessionId)).toBeNull();
    // The client's retry: a rotation now, or the same pair again within the grace window.
    const rotated = await sessions.refresh(c.refreshToken);
    expect(rotated).not.toBeNull();
    if (early) expect(rotated).toEqual(early);
    expect(await sessions.validate(c.sessionId)).toBeNull();
    expect(await sessions.validate(rotated!.sessionId)).toMatchObject({ userId, userAgent: 'c' });
    // Nothing was left behind on the source to come back if the slot ever returns there.
    expect(await source.command('CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe(0);
  });

  it('keys half moved: a validate waits out TRYAGAIN and answers right once the move completes, never null', async () => {
    const userId = 'mover-3';
    const a = await sessions.create({ userId, userAgent: 'a' });
    const { slot, source, target } = await slotOf(userId);
    await beginMigration(slot, source, target);
    // Only the session record moves for now; the index and the live set stay behind.
    expect(await moveKeys(slot, source, target, (k) => k.includes(':s:'))).toBe(1);
    const pending = sessions.validate(a.sessionId);
    await sleep(60);
    await moveKeys(slot, source, target);
    await finishMigration(slot, source, target);
    expect(await pending).toMatchObject({ userId, userAgent: 'a' });
    expect(await sessions.revoke(a.sessionId)).toBe(true);
    expect(await sessions.validate(a.sessionId)).toBeNull();
  });

  it('under load: sessions validated and revoked while the slot moves key by key; nothing revoked comes back, nothing live is lost', async () => {
    const userId = 'mover-4';
    const live = await Promise.all(Array.from({ length: 6 }, (_, i) => sessions.create({ userId, userAgent: `live-${i}` })));
    const doomed = await Promise.all(Array.from({ length: 6 }, (_, i) => sessions.create({ userId, userAgent: `doomed-${i}` })));
    const { slot, source, target } = await slotOf(userId);
    let stop = false;
    const wrong: string[] = [];
    const revoked = new Set<string>();
    const load = (async () => {
      let i = 0;
      while (!stop) {
        const s = live[i % live.length]!;
        // A live session may be unverifiable for a moment (TRYAGAIN past ioredis' resends): that is
        // an error, never a null that would log the user out.
        const seen = await sessions.validate(s.sessionId).catch(() => 'error' as const);
        if (seen === null) wrong.push(`live session ${i % live.length} validated as null`);
        const d = doomed[i % doomed.length]!;
        if (!revoked.has(d.sessionId) && (await sessions.revoke(d.sessionId).catch(() => false))) revoked.add(d.sessionId);
        for (const r of revoked) if ((await sessions.validate(r).catch(() => null)) !== null) wrong.push('a revoked session validated');
        i++;
        await sleep(5);
      }
    })();
    await sleep(50);
    await beginMigration(slot, source, target);
    await sleep(50);
    const all = (await source.command('CLUSTER', 'GETKEYSINSLOT', slot, 10_000)) as string[];
    for (let i = 0; i < all.length; i += 3) {
      await source.command('MIGRATE', target.host, target.port, '', 0, 5_000, 'KEYS', ...all.slice(i, i + 3));
      await sleep(20);
    }
    await moveKeys(slot, source, target);
    await finishMigration(slot, source, target);
    await sleep(50);
    stop = true;
    await load;
    expect(wrong).toEqual([]);
    for (const d of doomed) if (!revoked.has(d.sessionId)) expect(await sessions.revoke(d.sessionId)).toBe(true);
    for (const d of doomed) expect(await sessions.validate(d.sessionId)).toBeNull();
    for (const s of live) expect(await sessions.validate(s.sessionId)).toMatchObject({ userId });
    expect((await sessions.list(userId)).map((e) => e.userAgent).sort()).toEqual(live.map((_, i) => `live-${i}`));
  });
});
