import type { StoreEngine } from '../engine/store-engine.port.js';
import { COLLECTION_WRITE } from '../engine/scripts/collections.scripts.js';
import { encodeSegment } from '../cache/cache.keys.js';
import { checkIdentifier, markerOfKey, tenantMarker, tenantPattern } from './collections.keys.js';
import { CollectionContext, MARKER_TTL_MS, writerOf } from './collections.policy.js';
import type { CollectionOptions, CounterOptions, ListOptions, MapOptions } from './collections.options.js';
import { RedisCounter } from './counter.collection.js';
import { RedisLeaderboard } from './leaderboard.collection.js';
import { RedisList } from './list.collection.js';
import { RedisMap, type MapKey } from './map.collection.js';
import { migrateMap, type MigrateMapOptions, type MigrationReport, type MigrationSource } from './map.migration.js';
import { RedisSet } from './set.collection.js';

/**
 * Typed collections in Redis with the shape of the in-process structures they replace: `map`, `set`,
 * `counter`, `list`, `leaderboard`, optionally scoped to a tenant, and `migrateMap` to move an
 * existing `Map` in. Each call returns a light handle; handles for the same name and tenant share
 * the same data on every instance.
 */
export class RedisCollections {
  constructor(private readonly engine: StoreEngine) {}

  map<V = unknown>(name: string, options: MapOptions = {}): RedisMap<V> {
    return new RedisMap<V>(new CollectionContext(this.engine, name, options), options.ttl);
  }

  set(name: string, options: CollectionOptions = {}): RedisSet {
    return new RedisSet(new CollectionContext(this.engine, name, options));
  }

  counter(name: string, options: CounterOptions = {}): RedisCounter {
    return new RedisCounter(this.engine, name, options);
  }

  list<V = unknown>(name: string, options: ListOptions = {}): RedisList<V> {
    return new RedisList<V>(new CollectionContext(this.engine, name, options), options.cap);
  }

  leaderboard(name: string, options: CollectionOptions = {}): RedisLeaderboard {
    return new RedisLeaderboard(new CollectionContext(this.engine, name, options));
  }

  migrateMap<K extends MapKey, V>(source: MigrationSource<K, V>, target: RedisMap<V>, options?: MigrateMapOptions): Promise<MigrationReport> {
    return migrateMap(source, target, options);
  }

  /**
   * Removes every collection of one tenant (all kinds, migration checkpoints included) and returns
   * how many keys went. SCAN on every master with the tenant's segment escaped; it never answers
   * from the fallback, since a walk of one process's memory would miss what Redis holds. Maps,
   * sets and leaderboards are deleted with their last-write marker stamped, and the tenant's own
   * marker records the clear, so outage writes another instance replays later (to these or to new
   * collections of the tenant) do not bring the tenant's data back.
   */
  async clearTenant(tenant: string): Promise<number> {
    let removed = 0;
    const writer = writerOf(this.engine);
    // Stamped first: a replay that reads it after the walk began must already see the clear.
    const clearedAt = await this.engine.time({ fallback: false });
    await this.engine.set(tenantMarker(encodeSegment(checkIdentifier(tenant, 'a tenant'))), `${clearedAt}:${writer}`, { ttlMs: MARKER_TTL_MS, fallback: false });
    for await (const batch of this.engine.scan(tenantPattern(tenant), { count: 500, fallback: false })) {
      const plain: string[] = [];
      const marked: Promise<unknown>[] = [];
      for (const key of new Set(batch)) {
        const marker = markerOfKey(key);
        if (marker === undefined) plain.push(key);
        else marked.push(this.engine.runScript(COLLECTION_WRITE, [marker, key], ['del', writer, '', MARKER_TTL_MS, '1', 0], { fallback: false }));
      }
      if (plain.length > 0) removed += await this.engine.del(plain, { fallback: false });
      for (const n of await Promise.all(marked)) removed += Number(n);
    }
    return removed;
  }
}
