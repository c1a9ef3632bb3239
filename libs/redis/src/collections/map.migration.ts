import { performance } from 'node:perf_hooks';
import { encodeValue } from './collections.codec.js';
import { CollectionInputError, MigrationAbortedError } from './collections.errors.js';
import { checkEntryKey } from './collections.keys.js';
import type { MapKey, RedisMap } from './map.collection.js';

/** Where a map migration reads its entries from: a `Map`, or any sync or async iterable of `[key, value]` pairs. */
export type MigrationSource<K extends MapKey = MapKey, V = unknown> = ReadonlyMap<K, V> | Iterable<readonly [K, V]> | AsyncIterable<readonly [K, V]>;

/** Options of a migration of entries into a `RedisMap`: batching, overwrite, dry run, checkpoint, verification, progress. */
export interface MigrateMapOptions {
  /** Entries per batch (one atomic script per batch on a hash map). Default 500. */
  batchSize?: number;
  /** Batches in flight at once, pipelined on the connection. Default 4; 1 with batchSize 1 is one-by-one. */
  concurrency?: number;
  /** Replace entries that already exist in the target. Default false: existing (newer) data is kept. */
  overwrite?: boolean;
  /** Write nothing (not even the checkpoint); report what would be written and what kept. */
  dryRun?: boolean;
  /** Names the checkpoint, for several migrations into one map. Default 'default'. */
  id?: string;
  /** Start over instead of resuming from the checkpoint. */
  restart?: boolean;
  /** Compare counts and a sample of values after the run. Default true, 100 sampled entries. */
  verify?: boolean | { sample?: number };
  /** Called after each batch; throwing (or `signal` aborting) stops the migration at a checkpoint. */
  onProgress?: (progress: MigrationProgress) => void | Promise<void>;
  signal?: AbortSignal;
  /**
   * Attempts per batch after a failure that says Redis is unavailable (timeout, outage), with
   * backoff. Safe because every batch is idempotent. Default 3.
   */
  retries?: number;
}

/** Counts of a map migration so far, passed to `onProgress` after each batch. */
export interface MigrationProgress {
  /** Entries read from the source so far (skipped ones included). */
  processed: number;
  /** Entries known up front (a Map's size, an array's length); undefined for other iterables. */
  total?: number;
  /** Entries skipped because the checkpoint says an earlier run finished them. */
  resumedFrom: number;
  written: number;
  /** Entries already in the target and left alone (`overwrite: false`). */
  kept: number;
  batches: number;
}

/** The post-migration check: source and target counts compared, and a sample of values read back. */
export interface MigrationVerification {
  ok: boolean;
  sourceCount: number;
  targetCount: number;
  sampled: number;
  /** Sampled keys absent from the target. */
  missing: string[];
  /** Sampled keys whose stored value differs from the source (kept newer data, or a bad write). */
  different: string[];
}

/** What a finished map migration reports: its final counts, timing, and the verification result if one ran. */
export interface MigrationReport extends MigrationProgress {
  dryRun: boolean;
  durationMs: number;
  entriesPerSecond: number;
  verification?: MigrationVerification;
}

interface Checkpoint {
  entries: number;
  batches: number;
  complete: boolean;
  updatedAt: number;
}

// A checkpoint outlives a crash and a weekend, not a release cycle.
const CHECKPOINT_TTL_MS = 7 * 24 * 3_600_000;
const STRICT = { fallback: false } as const;

/**
 * Copies a Map (or any iterable of [key, value]) into a `RedisMap`: batched and pipelined,
 * idempotent (existing entries are kept unless `overwrite`, so a re-run never replaces newer data and
 * a hash never holds a key twice), resumable (a checkpoint key records how many source entries are
 * done, so a re-run skips them; resuming assumes the source yields in the same order, as a Map does,
 * and a re-written batch is harmless), with a dry run, progress and a verification pass.
 *
 * Writes never answer from the in-process fallback: if Redis goes away, the migration stops with
 * `RedisUnavailableError` at its last checkpoint.
 */
export async function migrateMap<K extends MapKey, V>(source: MigrationSource<K, V>, target: RedisMap<V>, options: MigrateMapOptions = {}): Promise<MigrationReport> {
  const batchSize = positive(options.batchSize ?? 500, 'batchSize');
  const concurrency = positive(options.concurrency ?? 4, 'concurrency');
  const sampleSize = options.verify === false ? 0 : Math.max(0, (typeof options.verify === 'object' ? options.verify.sample : undefined) ?? 100);
  const dryRun = options.dryRun === true;
  const overwrite = options.overwrite === true;
  const engine = target.ctx.engine;
  const checkpointKey = target.ctx.keys.checkpoint(options.id ?? 'default');
  const started = performance.now();

  const saved = options.restart ? null : readCheckpoint(await engine.get(checkpointKey, STRICT));
  const resumedFrom = saved?.entries ?? 0;
  const progress: MigrationProgress = { processed: 0, total: knownSize(source), resumedFrom, written: 0, kept: 0, batches: saved?.batches ?? 0 };

  // The contiguous prefix of finished batches is what the checkpoint may claim.
  let doneEntries = resumedFrom;
  let nextToFinish = 0;
  const finished = new Map<number, number>();
  let saving: Promise<void> = Promise.resolve();
  const save = (complete: boolean) => {
    if (dryRun) return saving;
    const snapshot: Checkpoint = { entries: doneEntries, batches: progress.batches, complete, updatedAt: Date.now() };
    // Chained so checkpoints land in order and a later one is never overwritten by an earlier one;
    // a failed write does not poison the chain (the caller retries it).
    saving = saving.catch(() => undefined).then(() => engine.set(checkpointKey, JSON.stringify(snapshot), { ttlMs: CHECKPOINT_TTL_MS, ...STRICT }).then(() => undefined));
    return saving;
  };

  let failure: unknown;
  const inFlight = new Set<Promise<void>>();
  const retries = Math.max(0, options.retries ?? 3);
  const runBatch = async (index: number, batch: [string, string][]) => {
    await withRetries(retries, options.signal, () => writeBatch(batch));
    progress.batches++;
    finished.set(index, batch.length);
    while (finished.has(nextToFinish)) {
      doneEntries += finished.get(nextToFinish)!;
      finished.delete(nextToFinish++);
    }
    await withRetries(retries, options.signal, () => save(false));
    await options.onProgress?.({ ...progress });
  };
  const writeBatch = async (batch: [string, string][]) => {
    if (dryRun) {
      const existing = await target.rawMany(batch.map(([k]) => k));
      const present = existing.filter((raw) => raw !== null).length;
      progress.kept += overwrite ? 0 : present;
      progress.written += overwrite ? batch.length : batch.length - present;
    } else {
      const written = await target.putEncoded(batch, overwrite, true);
      progress.written += written;
      progress.kept += batch.length - written;
    }
  };
  const launch = (index: number, batch: [string, string][]) => {
    const p = runBatch(index, batch).catch((error: unknown) => {
      failure ??= error;
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const sample = new Reservoir(sampleSize);
  let batch: [string, string][] = [];
  let index = 0;
  try {
    for await (const [key, value] of entriesOf(source)) {
      if (failure !== undefined || options.signal?.aborted) break;
      const k = checkEntryKey(key);
      const position = progress.processed++;
      sample.offer(k, value);
      if (position < resumedFrom) continue;
      batch.push([k, await encodeValue(value)]);
      if (batch.length < batchSize) continue;
      launch(index++, batch);
      batch = [];
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
  } catch (error) {
    // A bad key or value, or a source that throws: stop like a failed batch, at a checkpoint.
    failure ??= error;
  }
  if (failure === undefined && !options.signal?.aborted && batch.length > 0) launch(index++, batch);
  await Promise.all(inFlight);
  const stopped = failure ?? (options.signal?.aborted ? (options.signal.reason ?? new Error('aborted')) : undefined);
  if (stopped !== undefined) {
    await save(false).catch(() => undefined);
    throw new MigrationAbortedError(doneEntries, { cause: stopped });
  }
  await withRetries(retries, options.signal, () => save(true));

  const report: MigrationReport = { ...progress, dryRun, durationMs: 0, entriesPerSecond: 0 };
  const elapsed = performance.now() - started;
  report.durationMs = Math.round(elapsed);
  report.entriesPerSecond = Math.round(((progress.processed - resumedFrom) / Math.max(elapsed, 1)) * 1000);
  if (sampleSize > 0 && !dryRun) report.verification = await verify(target, progress.processed, sample);
  return report;
}

/** Retries `op` after availability failures (RedisUnavailableError, RedisTimeoutError), backing off. */
async function withRetries<T>(retries: number, signal: AbortSignal | undefined, op: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= retries || signal?.aborted || (code !== 'E_REDIS_UNAVAILABLE' && code !== 'E_REDIS_TIMEOUT')) throw error;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
}

async function verify<V>(target: RedisMap<V>, sourceCount: number, sample: Reservoir): Promise<MigrationVerification> {
  const keys = sample.items.map(([k]) => k);
  const [targetCount, stored, expected] = await Promise.all([target.size(), target.rawMany(keys), Promise.all(sample.items.map(([, v]) => encodeValue(v)))]);
  const missing = keys.filter((_, i) => stored[i] === null);
  const different = keys.filter((_, i) => stored[i] !== null && stored[i] !== expected[i]);
  return { ok: missing.length === 0 && different.length === 0 && targetCount >= sourceCount, sourceCount, targetCount, sampled: keys.length, missing, different };
}

/** Uniform sample of the source (Algorithm R), so the check reaches the whole range, not its start. */
class Reservoir {
  readonly items: [string, unknown][] = [];
  private seen = 0;
  constructor(private readonly size: number) {}
  offer(key: string, value: unknown): void {
    if (this.size === 0) return;
    this.seen++;
    if (this.items.length < this.size) this.items.push([key, value]);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.size) this.items[j] = [key, value];
    }
  }
}

async function* entriesOf<K, V>(source: MigrationSource<K & MapKey, V>): AsyncIterable<readonly [K, V]> {
  if (source instanceof Map) yield* source.entries() as Iterable<readonly [K, V]>;
  else if (Symbol.asyncIterator in Object(source)) yield* source as AsyncIterable<readonly [K, V]>;
  else if (Symbol.iterator in Object(source)) yield* source as Iterable<readonly [K, V]>;
  else throw new CollectionInputError('migrateMap needs a Map, an iterable or an async iterable of [key, value] pairs');
}

function knownSize(source: unknown): number | undefined {
  if (source instanceof Map) return source.size;
  if (Array.isArray(source)) return source.length;
  return undefined;
}

function readCheckpoint(raw: string | null): Checkpoint | null {
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Checkpoint;
    return Number.isSafeInteger(parsed.entries) && parsed.entries >= 0 ? parsed : null;
  } catch {
    return null; // an unreadable checkpoint means starting over, which is safe (existing entries are kept)
  }
}

function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new CollectionInputError(`migrateMap ${what} must be a positive integer (got ${n})`);
  return n;
}
