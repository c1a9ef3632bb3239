import { LOCK_EXTEND, LOCK_RELEASE } from '../engine/scripts/engine.scripts.js';
import { CACHE_LOCK_FAIL } from '../engine/scripts/cache.scripts.js';
import type { CacheCore } from './cache.core.js';
import type { CacheEntries } from './cache.entries.js';
import { RedisUnavailableError } from '../redis.errors.js';
import { CacheLoaderTimeoutError, CacheRemoteLoadError } from './cache.errors.js';
import { lockKey, newToken } from './cache.keys.js';
import type { CacheTags } from './cache.tags.js';
import type { CacheOutcome } from './cache.types.js';

export interface Loaded {
  value: unknown;
  outcome: CacheOutcome;
}

/** One `getOrSet` of a full key: what to run on a miss and how to store its result. */
export interface LoadRequest {
  full: string;
  loader: () => unknown;
  ttlMs: number;
  graceMs: number;
  tags: string[];
}

// How long waiters on other instances see a loader's error before someone may load again.
const ERROR_WINDOW_MS = 250;
const WAIT_FIRST_MS = 5;
const WAIT_MAX_MS = 100;

/**
 * Single-flight for `getOrSet` in one namespace: one loader run per cold key in this process (the
 * core's in-flight map) and across every instance sharing the Redis (a lease lock), plus
 * stale-while-revalidate refreshes in the background.
 */
export class CacheLoader {
  constructor(
    private readonly core: CacheCore,
    private readonly ns: string,
    private readonly label: string,
    private readonly tags: CacheTags,
    private readonly entries: CacheEntries,
  ) {}

  /**
   * Concurrent calls share one flight from the first read on: a cold burst costs one GET, and a
   * call cannot slip in between a failed load and its error reaching the others.
   */
  run(request: LoadRequest): Promise<Loaded> {
    const inflight = this.core.inflight;
    const generation = this.core.invalidations;
    const joined = inflight.get(request.full);
    if (joined && joined.generation === generation) return joined.promise;
    // Redis away with no fallback: the cache degrades to its source (loaded, not stored).
    const bypass = async (e: unknown): Promise<Loaded> =>
      e instanceof RedisUnavailableError ? { value: await request.loader(), outcome: 'BYPASS' } : Promise.reject(e);
    const promise: Promise<Loaded> = this.resolveOnce(request)
      .catch(bypass)
      .finally(() => {
        // A newer flight may have taken the slot (an invalidation came in between): leave it there.
        if (inflight.get(request.full)?.promise === promise) inflight.delete(request.full);
      });
    inflight.set(request.full, { promise, generation });
    return promise;
  }

  private async resolveOnce(request: LoadRequest): Promise<Loaded> {
    const found = await this.entries.read(request.full, request.graceMs > 0);
    if (found?.state === 'hit') return { value: found.value, outcome: 'HIT' };
    if (found?.state === 'stale') {
      this.refreshInBackground(request);
      return { value: found.value, outcome: 'STALE' };
    }
    return this.loadAcrossFleet(request, false);
  }

  private refreshInBackground(request: LoadRequest): void {
    const refreshes = this.core.refreshes;
    if (refreshes.has(request.full)) return;
    const settled = this.loadAcrossFleet(request, true).then(
      () => undefined,
      () => undefined,
    );
    refreshes.set(request.full, settled);
    void settled.finally(() => refreshes.delete(request.full));
  }

  /**
   * The fleet-wide half of single-flight: a lease lock (SET NX PX with a random token, renewed while
   * the loader runs, never past the loader deadline). The holder re-checks the key, loads and
   * writes; the others poll the value with backoff (and the lock, to see the holder fail or die)
   * instead of loading, until the overall deadline, after which they load themselves.
   * `background`: a stale refresh that gives up at once when another instance holds the lock.
   */
  private async loadAcrossFleet(request: LoadRequest, background: boolean): Promise<Loaded> {
    const engine = this.core.engine;
    const lock = lockKey(this.ns, this.entries.keyOf(request.full));
    const lease = this.core.options.lockTimeoutMs;
    // A holder gives up at its loader deadline; a waiter that started later waits that long at most.
    const giveUpAt = Date.now() + this.core.options.loaderTimeoutMs + WAIT_MAX_MS;
    let delay = WAIT_FIRST_MS;
    for (;;) {
      const token = newToken();
      if (await engine.set(lock, token, { nx: true, ttlMs: lease })) {
        return this.load(request, { lock, token }, background);
      }
      if (background) return { value: undefined, outcome: 'STALE' };
      // Someone else loads: wait for the value rather than load it too. Only the failure of the
      // holder we waited for is ours to report; an older failure marker is just waited out.
      const watched = await engine.get(lock);
      for (;;) {
        if (Date.now() >= giveUpAt) return this.load(request, null, false);
        await sleep(Math.min(delay, Math.max(1, giveUpAt - Date.now())));
        delay = Math.min(WAIT_MAX_MS, Math.ceil(delay * 1.5));
        const [found, holder] = await Promise.all([this.entries.read(request.full, false), engine.get(lock)]);
        if (found) return { value: found.value, outcome: 'MISS' };
        if (holder === null) break; // released without a readable value, or the holder died: try to take over
        if (holder.startsWith('!') && watched !== null && holder.startsWith(`!${watched}!`)) throw new CacheRemoteLoadError(holder.slice(watched.length + 2));
      }
    }
  }

  /**
   * Runs the loader and stores its result. `held`: the lock this call owns (null for a waiter
   * that gave up on a hung holder). The key is staked first, so an invalidation of any kind made
   * while the loader runs turns the write into a no-op (the caller still gets the value it
   * loaded); the loader is abandoned at `loaderTimeout`, and so is its lease.
   */
  private async load(request: LoadRequest, held: { lock: string; token: string } | null, background: boolean): Promise<Loaded> {
    const { full, loader, ttlMs, graceMs, tags } = request;
    const engine = this.core.engine;
    const { lockTimeoutMs: lease, loaderTimeoutMs } = this.core.options;
    const started = Date.now();
    const renew = held
      ? setInterval(() => {
          if (Date.now() - started >= loaderTimeoutMs) return clearInterval(renew);
          void engine.runScript(LOCK_EXTEND, [held.lock], [held.token, lease]).catch(() => undefined);
        }, Math.max(10, Math.floor(lease / 3)))
      : undefined;
    renew?.unref();
    let failed = false;
    const c = this.core.counter(this.label);
    try {
      // Another instance may have filled the key between our miss and our lock.
      if (!background) {
        const found = await this.entries.read(full, false);
        if (found) return { value: found.value, outcome: 'MISS' };
      }
      const mark = this.core.bus.mark();
      const versions = tags.length > 0 ? await this.tags.writeVersions(tags, ttlMs > 0 ? ttlMs + graceMs : 0) : [];
      const guard = await this.entries.stake(full, loaderTimeoutMs);
      c.loads++;
      this.core.metrics?.cacheLoad(this.label);
      let value: unknown;
      try {
        value = await withDeadline(loader, loaderTimeoutMs);
      } catch (error) {
        c.loadErrors++;
        if (error instanceof CacheLoaderTimeoutError) throw error; // released below: waiters take over at once
        failed = true;
        const message = (error instanceof Error ? error.message : String(error)).slice(0, 200);
        if (held) await engine.runScript(CACHE_LOCK_FAIL, [held.lock], [held.token, `${held.token}!${message}`, ERROR_WINDOW_MS]).catch(() => undefined);
        throw error;
      }
      await this.entries.write(full, value, ttlMs, graceMs, versions, guard, mark);
      return { value, outcome: 'MISS' };
    } finally {
      if (renew) clearInterval(renew);
      if (held && !failed) await engine.runScript(LOCK_RELEASE, [held.lock], [held.token]).catch(() => undefined);
    }
  }
}

/** The loader's result, or `CacheLoaderTimeoutError` once `timeoutMs` passed (the loader is abandoned). */
function withDeadline(loader: () => unknown, timeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CacheLoaderTimeoutError(timeoutMs)), timeoutMs);
  });
  return Promise.race([Promise.resolve().then(loader), late]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
