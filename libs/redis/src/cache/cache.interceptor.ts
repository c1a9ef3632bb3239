import { createHash } from 'node:crypto';
import { applyDecorators, Injectable, Optional, SetMetadata, UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { lastValueFrom, of, type Observable } from 'rxjs';
import type { Duration } from '../duration.js';
import { RedisMetrics } from '../metrics/redis-metrics.js';
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
  tags?: string[];
  /** Replaces the route part of the key (`Controller.handler` by default). */
  key?: string;
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
 * Caches a controller GET's response: concurrent misses share one handler run (and one per fleet),
 * and the response carries `X-Cache: HIT | MISS | STALE`. Other methods pass straight through.
 */
export function Cacheable(options: CacheableOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(SetMetadata(CACHEABLE_OPTIONS, options), UseInterceptors(CacheableInterceptor));
}

/** The interceptor `@Cacheable` installs: serves GET responses through the `http` cache namespace and sets `X-Cache`. */
@Injectable()
export class CacheableInterceptor implements NestInterceptor {
  constructor(
    private readonly cache: CacheService,
    private readonly reflector: Reflector,
    @Optional() private readonly metrics?: RedisMetrics,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const options = this.reflector.getAllAndOverride<CacheableOptions | undefined>(CACHEABLE_OPTIONS, [context.getHandler(), context.getClass()]);
    const http = context.switchToHttp();
    const request = http.getRequest<HttpRequestLike>();
    if (!options || context.getType() !== 'http' || request.method !== 'GET') return next.handle();
    const route = options.key ?? `${context.getClass().name}.${context.getHandler().name}`;
    const key = `${route}#${fingerprint(request, options.vary ?? DEFAULT_VARY)}`;
    const { value, outcome } = await this.cache
      .namespace('http')
      .getOrSetWithOutcome(key, () => lastValueFrom(next.handle(), { defaultValue: undefined }), { ttl: options.ttl, grace: options.grace, tags: options.tags });
    if (this.metrics?.enabled) this.metrics.cacheRoute(routeTemplate(request) ?? route, outcome === 'HIT' ? 'hit' : outcome === 'STALE' ? 'stale' : 'miss');
    const response = http.getResponse<{ setHeader?: (n: string, v: string) => void; header?: (n: string, v: string) => void }>();
    if (typeof response.setHeader === 'function') response.setHeader('X-Cache', outcome);
    else response.header?.('X-Cache', outcome);
    return of(value);
  }
}

/**
 * The route as declared (`/trips/:id`), never the concrete URL: Express keeps it in `req.route.path`,
 * Fastify in `routeOptions.url`. Bounded by the number of handlers, so fit for a metric label.
 */
function routeTemplate(request: HttpRequestLike): string | undefined {
  const r = request as { route?: { path?: unknown }; routeOptions?: { url?: unknown } };
  const path = r.route?.path ?? r.routeOptions?.url;
  return typeof path === 'string' && path !== '' ? path : undefined;
}

/**
 * Params, query and vary values, hashed: the key stays short and never holds a credential in clear.
 * Objects are sorted by key so `?a=1&b=2` and `?b=2&a=1` share an entry.
 */
function fingerprint(request: HttpRequestLike, vary: CacheVary[]): string {
  const parts = vary.map((v) => {
    if (typeof v === 'function') return v(request) ?? null;
    if (v === 'user') return stringOrNull(request.user?.id ?? request.user?.sub ?? request.user?.userId);
    if (v === 'tenant') return stringOrNull(request.tenant?.id ?? request.tenantId ?? request.headers?.['x-tenant-id']);
    return stringOrNull(request.headers?.[v.slice('header:'.length).toLowerCase()]);
  });
  const text = JSON.stringify([sorted(request.params ?? {}), sorted(request.query ?? {}), parts]);
  return createHash('sha256').update(text).digest('base64url');
}

function stringOrNull(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return Array.isArray(value) ? value.join(',') : String(value);
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') return Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]);
  return value;
}
