import { createHash } from 'node:crypto';
import { applyDecorators, Injectable, Optional, SetMetadata, UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { HOST_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import { lastValueFrom, of, type Observable } from 'rxjs';
import type { Duration } from '../duration.js';
import { RedisMetrics } from '../metrics/redis-metrics.js';
import { routeTemplate } from '../http/route-template.js';
import { CacheService } from './cache.service.js';

/** Something the cached response depends on besides route, params and query. */
export type CacheVary =
  /** `req.user.id` (or `.sub`, `.userId`); requests without a user share the anonymous entry. */
  | 'user'
  /** `req.tenant.id`, `req.tenantId`, or the `x-tenant-id` header. */
  | 'tenant'
  /** A request header, e.g. `'header:accept-language'`. */
  | `header:${string}`
  | ((request: HttpRequestLike) => string | undefined);

/** Options of `@Cacheable`: TTL, grace, tags, and what the cache key is built from. */
export interface CacheableOptions {
  ttl?: Duration;
  grace?: Duration;
  /** Tags of the entry, for `@CacheEvict({ tags })` or `invalidateTags`; a function computes them per request. */
  tags?: string[] | ((context: ExecutionContext) => string[]);
  /**
   * A string replaces the route part of the key (the declared route, `GET /trips/:id`, by
   * default); params, query and `vary` are still added. A function returns the whole key itself
   * (`undefined`: do not cache this request), so it must include whatever the response depends on.
   */
  key?: string | ((context: ExecutionContext) => string | undefined);
  /**
   * Decides whether this request is served from the cache, in place of the default (GET and HEAD
   * only). Return `false` for a request that must reach the handler, e.g. one with `?fresh=1`.
   */
  isCacheable?: (context: ExecutionContext) => boolean;
  /**
   * What else the response depends on. Unset, the key includes the `authorization` and `cookie`
   * headers, so responses are never shared between callers with different credentials; pass `[]`
   * explicitly for a response that is the same for everyone.
   */
  vary?: CacheVary[];
}

/** The parts of an HTTP request (Express or Fastify) `@Cacheable` reads to build its key. */
export interface HttpRequestLike {
  method?: string;
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  headers?: Record<string, string | string[] | undefined>;
  user?: { id?: unknown; sub?: unknown; userId?: unknown } | null;
  tenant?: { id?: unknown } | null;
  tenantId?: unknown;
}

export const CACHEABLE_OPTIONS = 'nestjs-redis-kit:cacheable';
const DEFAULT_VARY: CacheVary[] = ['header:authorization', 'header:cookie'];

/**
 * Caches a controller GET's (and HEAD's) response under the declared route plus params, query and
 * `vary`: concurrent misses share one handler run (and one per fleet), and the response carries
 * `X-Cache: HIT | MISS | STALE`. Other methods pass straight through unless `isCacheable` says otherwise.
 */
export function Cacheable(options: CacheableOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(CACHEABLE_OPTIONS, options), UseInterceptors(CacheableInterceptor));
}

// Requests one cache interceptor has decided on: a subclass registered globally or on the
// controller runs before the one `@Cacheable` binds to the method, which then steps aside.
const claimed = new WeakSet<object>();

/**
 * The interceptor `@Cacheable` installs: serves GET and HEAD responses through the `http` cache
 * namespace and sets `X-Cache`. Extend it to change which requests are cached
 * (`isRequestCacheable`) or how they are keyed (`trackBy`), and register the subclass with
 * `APP_INTERCEPTOR` or `@UseInterceptors` on the controller: it then handles every `@Cacheable`
 * route it runs on, and the interceptor `@Cacheable` binds leaves those requests alone.
 */
@Injectable()
export class CacheableInterceptor implements NestInterceptor {
  /** The methods cached by default (a HEAD shares the GET's entry). */
  protected allowedMethods: readonly string[] = ['GET', 'HEAD'];

  constructor(
    protected readonly cache: CacheService,
    protected readonly reflector: Reflector,
    @Optional() protected readonly metrics?: RedisMetrics,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequestLike>();
    if (request && typeof request === 'object') {
      if (claimed.has(request)) return next.handle();
      claimed.add(request);
    }
    const options = this.cacheableOptions(context);
    if (!options || !this.isRequestCacheable(context)) return next.handle();
    const key = this.trackBy(context);
    if (key === undefined) return next.handle();
    const { value, outcome } = await this.cache
      .namespace('http')
      .getOrSetWithOutcome(key, () => lastValueFrom(next.handle(), { defaultValue: undefined }), { ttl: options.ttl, grace: options.grace, tags: typeof options.tags === 'function' ? options.tags(context) : options.tags });
    if (this.metrics?.enabled) this.metrics.cacheRoute(declaredPath(request) ?? this.routeKey(context), outcome === 'HIT' ? 'hit' : outcome === 'STALE' ? 'stale' : 'miss');
    const response = http.getResponse<{ setHeader?: (n: string, v: string) => void; header?: (n: string, v: string) => void }>();
    if (typeof response.setHeader === 'function') response.setHeader('X-Cache', outcome);
    else response.header?.('X-Cache', outcome);
    return of(value);
  }

  /** The `@Cacheable` options of the handler (or its class); `undefined` leaves the request alone. */
  protected cacheableOptions(context: ExecutionContext): CacheableOptions | undefined {
    return this.reflector.getAllAndOverride<CacheableOptions | undefined>(CACHEABLE_OPTIONS, [context.getHandler(), context.getClass()]);
  }

  /** Whether this request is answered from the cache: the decorator's `isCacheable`, else GET and HEAD. */
  protected isRequestCacheable(context: ExecutionContext): boolean {
    const options = this.cacheableOptions(context);
    if (typeof options?.isCacheable === 'function') return options.isCacheable(context) === true;
    const method = context.switchToHttp().getRequest<HttpRequestLike>()?.method;
    return typeof method === 'string' && this.allowedMethods.includes(method.toUpperCase());
  }

  /**
   * The entry's key in the `http` namespace, or `undefined` to pass the request through: the
   * decorator's `key` function when it has one, else the route (see `routeKey`), then a hash of
   * params, query and the `vary` values.
   */
  protected trackBy(context: ExecutionContext): string | undefined {
    const options = this.cacheableOptions(context) ?? {};
    if (typeof options.key === 'function') return options.key(context);
    const request = context.switchToHttp().getRequest<HttpRequestLike>();
    // A host-routed controller (`@Controller({ host })`) answers per host: two tenants on one
    // route template, or two controllers on one path under different hosts, must not share entries.
    const host = Reflect.getMetadata(HOST_METADATA, context.getClass()) === undefined ? undefined : requestHost(request);
    return `${this.routeKey(context)}#${fingerprint(request, options.vary ?? DEFAULT_VARY, host)}`;
  }

  /**
   * The route part of the key: the decorator's string `key`, else the declared route
   * (`GET /trips/:id`, which survives renamed or minified classes), else `Controller.handler`.
   */
  protected routeKey(context: ExecutionContext): string {
    const key = this.cacheableOptions(context)?.key;
    if (typeof key === 'string') return key;
    return routeTemplate(context.getClass(), context.getHandler()) ?? `${context.getClass().name}.${context.getHandler().name}`;
  }
}

/**
 * The route as declared (`/trips/:id`), never the concrete URL: Express keeps it in `req.route.path`,
 * Fastify in `routeOptions.url`. Bounded by the number of handlers, so fit for a metric label.
 */
function declaredPath(request: HttpRequestLike): string | undefined {
  const r = request as { route?: { path?: unknown }; routeOptions?: { url?: unknown } };
  const path = r.route?.path ?? r.routeOptions?.url;
  return typeof path === 'string' && path !== '' ? path : undefined;
}

/**
 * Params, query and vary values, hashed: the key stays short and never holds a credential in clear.
 * Objects are sorted by key so `?a=1&b=2` and `?b=2&a=1` share an entry.
 */
function fingerprint(request: HttpRequestLike, vary: CacheVary[], host?: string): string {
  const parts = vary.map((v) => {
    if (typeof v === 'function') return v(request) ?? null;
    if (v === 'user') return stringOrNull(request.user?.id ?? request.user?.sub ?? request.user?.userId);
    if (v === 'tenant') return stringOrNull(request.tenant?.id ?? request.tenantId ?? request.headers?.['x-tenant-id']);
    return stringOrNull(request.headers?.[v.slice('header:'.length).toLowerCase()]);
  });
  const text = JSON.stringify([sorted(request.params ?? {}), sorted(request.query ?? {}), parts, ...(host === undefined ? [] : [host])]);
  return createHash('sha256').update(text).digest('base64url');
}

function stringOrNull(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** The Host the request was routed by, lower-cased and without its port. */
function requestHost(request: HttpRequestLike): string {
  const r = request as { hostname?: unknown; headers?: Record<string, string | string[] | undefined> };
  const raw = typeof r.hostname === 'string' && r.hostname !== '' ? r.hostname : String(r.headers?.host ?? '');
  return raw.toLowerCase().replace(/:\d+$/, '');
}

// The top-level params and query become sorted [key, value] pairs; a nested object becomes
// { o: pairs }, so it can never read the same as a nested array of pairs (`?x[k]=v` against
// `?x[0][0]=k&x[0][1]=v` with an extended query parser).
function sorted(value: unknown, nested = false): unknown {
  if (Array.isArray(value)) return value.map((v) => sorted(v, true));
  if (value && typeof value === 'object') {
    const pairs = Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k], true)]);
    return nested ? { o: pairs } : pairs;
  }
  return value;
}
