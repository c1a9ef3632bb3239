import { applyDecorators, Injectable, SetMetadata, UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { concat, defer, from, ignoreElements, mergeMap, toArray, type Observable } from 'rxjs';
import { toMs, type Duration } from '../duration.js';
import { argumentsKey, UnstableArgumentError } from './cache.args-key.js';
import { CacheInputError } from './cache.errors.js';
import { CacheService } from './cache.service.js';

/** A list given as is, or computed from the decorated method's arguments on each call. */
export type CacheListOption<A extends unknown[]> = readonly string[] | ((...args: A) => readonly string[]);

/** Options of `@Cached`: how long, under which key and tags a method's result is kept. */
export interface CachedOptions<A extends unknown[] = any[]> {
  /** Time to live of a result; the `cache.ttl` default when unset. */
  ttl?: Duration;
  /** Serve a stale result this long after expiry while one background call refreshes it. */
  grace?: Duration;
  /** Tags the result can be invalidated by (`@CacheEvict({ tags })`, `CacheService.invalidateTags`). */
  tags?: CacheListOption<A>;
  /**
   * The entry's key, used as is (so `@CacheEvict({ keys })` and `CacheService.get` can name it).
   * Unset: `<name>:<hash of the arguments>`, which needs arguments that are data.
   */
  key?: (...args: A) => string;
  /** The stable part of the default key. Default `Class.method`: set it to keep entries across renames. */
  name?: string;
  /** A cache namespace (`CacheService.namespace`) for the entries; default the root namespace. */
  namespace?: string;
}

/** Options of `@CacheEvict`: what to invalidate once the decorated method has succeeded. */
export interface CacheEvictOptions<A extends unknown[] = any[]> {
  /**
   * Tags to invalidate. Without `namespace` they are invalidated in the root namespace (where
   * `@Cached` stores) and in `http` (where `@Cacheable` stores).
   */
  tags?: CacheListOption<A>;
  /** Keys to delete (in `namespace`, default the root one). */
  keys?: CacheListOption<A>;
  /** Globs of keys to delete (`CacheService.invalidatePattern`). */
  patterns?: CacheListOption<A>;
  /** Confine the invalidation to this namespace. */
  namespace?: string;
}

export const CACHED_METADATA = 'nestjs-redis-kit:cached';
export const CACHE_EVICT_METADATA = 'nestjs-redis-kit:cache-evict';

/**
 * Caches a provider method's result, keyed by its arguments, through `CacheService.getOrSet`:
 * concurrent calls with the same arguments run the method once (once per fleet), errors are not
 * stored, and an outage serves from memory like any other cache read. Only methods returning a
 * Promise can be cached (the result comes from Redis); the type rejects a synchronous method.
 * Wired at start-up on singleton providers of a module that sees `RedisModule`; a request-scoped
 * or transient provider stops start-up with an error naming the method, and `@Cacheable` is the
 * decorator for controller routes.
 */
export function Cached<A extends any[] = any[]>(options: CachedOptions<A> = {}) {
  const checked = checkOptions(options, ['ttl', 'grace', 'tags', 'key', 'name', 'namespace'], '@Cached');
  if (checked.ttl !== undefined) toMs(checked.ttl, '@Cached ttl');
  if (checked.grace !== undefined) toMs(checked.grace, '@Cached grace');
  if (checked.key !== undefined && typeof checked.key !== 'function') throw new CacheInputError('@Cached key must be a function of the arguments returning a string');
  if (checked.name !== undefined && (typeof checked.name !== 'string' || checked.name === '')) throw new CacheInputError('@Cached name must be a non-empty string');
  return <M extends (...args: A) => PromiseLike<unknown>>(target: object, property: string | symbol, descriptor: TypedPropertyDescriptor<M>): void => {
    SetMetadata(CACHED_METADATA, checked)(target, property, descriptor);
  };
}

/**
 * Once the decorated method resolves (never when it throws), invalidates `tags`, deletes `keys`
 * and `patterns`, then returns its result; an eviction that fails rejects the call, so a caller is
 * never told a write left no stale cache behind when it did. On a provider method the lists may
 * be computed from the arguments; on a controller route (or a WebSocket/RPC handler) a function
 * receives the request (or the message data) instead, because Nest resolves a route's arguments
 * after interceptors run. A provider method always returns a Promise once decorated (the
 * invalidation is awaited), so decorate methods that already do.
 */
export function CacheEvict<A extends any[] = any[]>(options: CacheEvictOptions<A>): MethodDecorator {
  const checked = checkOptions(options, ['tags', 'keys', 'patterns', 'namespace'], '@CacheEvict');
  if (checked.tags === undefined && checked.keys === undefined && checked.patterns === undefined) {
    throw new CacheInputError('@CacheEvict needs at least one of tags, keys or patterns');
  }
  for (const what of ['tags', 'keys', 'patterns'] as const) {
    const list = checked[what];
    if (list !== undefined && typeof list !== 'function') checkList(list, `@CacheEvict ${what}`);
  }
  return applyDecorators(SetMetadata(CACHE_EVICT_METADATA, checked), UseInterceptors(CacheEvictInterceptor));
}

/**
 * The interceptor `@CacheEvict` binds to controller routes and gateway handlers: once the handler
 * completes, the invalidations run, and only then does the response go out (so a client reading
 * right after its write never gets the stale entry). A handler that errors evicts nothing.
 */
@Injectable()
export class CacheEvictInterceptor implements NestInterceptor {
  constructor(
    private readonly cache: CacheService,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = this.reflector.get<CacheEvictOptions | undefined>(CACHE_EVICT_METADATA, context.getHandler());
    if (!options) return next.handle();
    const type = context.getType<string>();
    const subject = type === 'http' ? context.switchToHttp().getRequest() : type === 'rpc' ? context.switchToRpc().getData() : type === 'ws' ? context.switchToWs().getData() : context.getArgs()[0];
    const where = `${context.getClass().name}.${context.getHandler().name}`;
    const evict = defer(() => runEviction(this.cache, options, [subject], where)).pipe(ignoreElements());
    // HTTP answers once the handler completes (and an @Sse stream must keep flowing).
    if (type === 'http') return concat(next.handle(), evict);
    // Held back until the eviction is done: gateways and microservices send each emitted value as
    // soon as it comes, so a reply could beat the eviction.
    return next.handle().pipe(
      toArray(),
      mergeMap((values) => concat(evict, from(values))),
    );
  }
}

function checkOptions<T extends object>(options: T, allowed: string[], what: string): T {
  if (!options || typeof options !== 'object') throw new CacheInputError(`${what} takes an options object`);
  const unknown = Object.keys(options).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new CacheInputError(`${what} has no option ${unknown.map((k) => JSON.stringify(k)).join(', ')} (it takes ${allowed.join(', ')})`);
  return options;
}

function checkList(list: unknown, what: string): string[] {
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string' || v === '')) {
    throw new CacheInputError(`${what} must be an array of non-empty strings (got ${Array.isArray(list) ? JSON.stringify(list) : typeof list})`);
  }
  return list as string[];
}

function listOf<A extends unknown[]>(option: CacheListOption<A> | undefined, args: A, what: string): string[] {
  if (option === undefined) return [];
  return checkList(typeof option === 'function' ? option(...args) : option, what);
}

/** Runs the invalidations of one `@CacheEvict` (`where` names the method in errors). */
export async function runEviction(cache: CacheService, options: CacheEvictOptions, args: unknown[], where: string): Promise<void> {
  const tags = listOf(options.tags, args, `@CacheEvict tags of ${where}`);
  const keys = listOf(options.keys, args, `@CacheEvict keys of ${where}`);
  const patterns = listOf(options.patterns, args, `@CacheEvict patterns of ${where}`);
  const target = options.namespace === undefined ? cache : cache.namespace(options.namespace);
  const work: Array<Promise<unknown>> = [];
  if (tags.length > 0) {
    work.push(target.invalidateTags(tags));
    if (options.namespace === undefined) work.push(cache.namespace('http').invalidateTags(tags));
  }
  if (keys.length > 0) work.push(target.del(keys));
  for (const pattern of patterns) work.push(target.invalidatePattern(pattern));
  await Promise.all(work);
}

/** The replacement of a `@Cached` method on one instance. */
export function cachedMethod(cache: CacheService, original: (...args: unknown[]) => unknown, options: CachedOptions, where: string): (...args: unknown[]) => Promise<unknown> {
  const target = options.namespace === undefined ? cache : cache.namespace(options.namespace);
  const name = options.name ?? where;
  return function cached(this: unknown, ...args: unknown[]): Promise<unknown> {
    let key: string;
    try {
      if (options.key) {
        key = options.key(...args);
        if (typeof key !== 'string' || key === '') throw new CacheInputError(`@Cached key of ${where} must return a non-empty string (got ${typeof key === 'string' ? '""' : typeof key})`);
      } else {
        key = `${name}:${argumentsKey(args)}`;
      }
    } catch (error) {
      if (error instanceof UnstableArgumentError) {
        return Promise.reject(
          new CacheInputError(`@Cached ${where} cannot be keyed by its arguments: ${error.message}. Pass data (strings, numbers, plain objects...) or give @Cached a key function`),
        );
      }
      return Promise.reject(error);
    }
    let tags: string[];
    try {
      tags = listOf(options.tags, args, `@Cached tags of ${where}`);
    } catch (error) {
      return Promise.reject(error);
    }
    return target.getOrSet(
      key,
      () => {
        const result = original.apply(this, args);
        if (!isThenable(result)) throw new CacheInputError(`@Cached ${where} returned ${result === null ? 'null' : typeof result}, not a Promise: only async methods can be cached`);
        return result;
      },
      { ttl: options.ttl, grace: options.grace, tags },
    );
  };
}

/** The replacement of a `@CacheEvict` provider method on one instance. */
export function evictingMethod(cache: CacheService, original: (...args: unknown[]) => unknown, options: CacheEvictOptions, where: string): (...args: unknown[]) => Promise<unknown> {
  return async function evicting(this: unknown, ...args: unknown[]): Promise<unknown> {
    const result = await original.apply(this, args);
    await runEviction(cache, options, args, where);
    return result;
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}
