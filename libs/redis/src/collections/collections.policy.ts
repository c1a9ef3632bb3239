import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { COLLECTION_CONFLICT, COLLECTION_WRITE, markedSinceByOther } from '../engine/scripts/collections.scripts.js';
import type { CallOptions, ScriptOptions, StoreEngine, WriteOptions } from '../engine/store-engine.port.js';
import type { ReplayReader } from '../engine/store-engine.types.js';
import { CollectionInputError } from './collections.errors.js';
import { CollectionKeys, tenantMarker, type MarkedKind } from './collections.keys.js';
import type { CollectionOptions, CollectionWhenUnavailable } from './collections.options.js';

/**
 * How long a collection's last-write marker outlives its last write. A replayed write whose outage
 * began longer ago than this cannot be checked (the marker may have expired) and is refused; in
 * exchange, collections nobody writes any more leave no marker behind for long.
 */
export const MARKER_TTL_MS = 24 * 60 * 60 * 1000;

/** The operations of collection-write.lua. */
export type CollectionOp = 'hset' | 'hdel' | 'sadd' | 'srem' | 'zadd' | 'zrem' | 'lpush' | 'lrem' | 'set' | 'del' | 'touch';

/** One write of a collection through collection-write.lua. */
export interface CollectionWrite {
  kind: MarkedKind;
  op: CollectionOp;
  /** The key written (defaults to the collection's own key of `kind`). */
  key?: string;
  items?: readonly string[];
  /** hset: replace existing fields; set: replace an existing entry. Default true. */
  overwrite?: boolean;
  /** set: the entry's TTL; lpush: the list's cap. */
  ttlMs?: number;
  /** Never from the fallback (a migration, a walk that must see all of Redis). */
  strict?: boolean;
}

/** What every collection holds: the port, its keys, and the per-call options its outage policy implies. */
export class CollectionContext {
  readonly keys: CollectionKeys;
  readonly whenUnavailable: CollectionWhenUnavailable;

  constructor(
    readonly engine: StoreEngine,
    name: string,
    options: CollectionOptions = {},
  ) {
    this.keys = new CollectionKeys(name, options.tenant);
    const policy = options.whenUnavailable ?? 'memory';
    if (policy !== 'memory' && policy !== 'closed') throw new CollectionInputError(`whenUnavailable must be 'memory' or 'closed' (got ${JSON.stringify(policy)})`);
    this.whenUnavailable = policy;
  }

  get name(): string {
    return this.keys.name;
  }

  /** Reads: from the fallback during an outage unless the collection is `closed`. */
  read(): CallOptions {
    return this.whenUnavailable === 'closed' ? STRICT : {};
  }

  /**
   * Writes that must not run twice (increments, pushes) and walks that must see all of Redis
   * (SCAN-based size and clear): never from the fallback.
   */
  strict(): WriteOptions {
    return STRICT;
  }

  /**
   * A map, set, leaderboard or list write, with the collection's last-write marker stamped in the same
   * script. Made during an outage (unless `closed` or `strict`), it is journaled and replayed with
   * the outage's start, and Redis refuses it (`CONFLICT`, reported as `replay-refused` and in the
   * log) when another instance wrote the collection since: newer writes on Redis win.
   */
  async mutate(w: CollectionWrite): Promise<number> {
    const engine = this.engine;
    const writer = writerOf(engine);
    const rest = [MARKER_TTL_MS, w.overwrite === false ? '0' : '1', w.ttlMs ?? 0, ...(w.items ?? [])];
    const keys = [this.keys.marker(w.kind), w.key ?? this.keys.of(w.kind)];
    let options: ScriptOptions = STRICT;
    if (!w.strict && this.whenUnavailable !== 'closed') {
      options = {
        replayOnRecovery: 'durable',
        capability: `collection ${this.keys.describe(w.kind)}`,
        replayArgs: async ({ outageStartedAt }, redis) => [w.op, writer, (await this.tenantClearedSince(redis, outageStartedAt, writer)) ? 'cleared' : outageStartedAt, ...rest],
      };
      watchConflicts(engine);
    }
    return Number(await engine.runScript(COLLECTION_WRITE, keys, [w.op, writer, '', ...rest], options));
  }
  /**
   * Whether another instance cleared this collection's tenant on Redis since `since`. A collection
   * this instance created only during its outage has no marker the clear could stamp, and without
   * this check its replay would bring the tenant's data back.
   */
  private async tenantClearedSince(redis: ReplayReader, since: number, writer: string): Promise<boolean> {
    if (this.keys.tenant === '') return false;
    const last = await redis.get(tenantMarker(this.keys.tenant));
    return last !== null && markedSinceByOther(last, writer, since);
  }
}

const STRICT: WriteOptions = Object.freeze({ fallback: false });

/**
 * A random id per engine (one per connection of one process): the marker names its last writer,
 * so an instance's own writes, made before its outage or replayed from it, never conflict with
 * the rest of its replay. Its writes are ordered by its own journal already.
 */
const writers = new WeakMap<StoreEngine, string>();
export function writerOf(engine: StoreEngine): string {
  let id = writers.get(engine);
  if (id === undefined) {
    id = randomBytes(9).toString('base64url');
    writers.set(engine, id);
  }
  return id;
}

/**
 * One log line per collection after each recovery, with how many of its outage writes Redis
 * refused as conflicts (the engine's `replay-refused` event reports each one too).
 */
const watched = new WeakSet<StoreEngine>();
const logger = new Logger('RedisCollections');
function watchConflicts(engine: StoreEngine): void {
  if (watched.has(engine)) return;
  watched.add(engine);
  const counts = new Map<string, number>();
  engine.onReplayRefused((r) => {
    if (r.reason === COLLECTION_CONFLICT && r.capability.startsWith('collection ')) counts.set(r.capability, (counts.get(r.capability) ?? 0) + 1);
  });
  engine.onModeChange((mode) => {
    if (mode !== 'redis' || counts.size === 0) return;
    for (const [capability, n] of counts) {
      logger.warn(
        `${n} write${n === 1 ? '' : 's'} to ${capability.slice('collection '.length)} made during the outage ${n === 1 ? 'was' : 'were'} not replayed: another instance wrote it on Redis after the outage began, and its newer data was kept`,
      );
    }
    counts.clear();
  });
}
