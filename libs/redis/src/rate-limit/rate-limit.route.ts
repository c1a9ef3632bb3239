import { createHash } from 'node:crypto';
import type { Reflector } from '@nestjs/core';
import { controllerTemplate, routeTemplate } from '../http/route-template.js';
import { MAX_POLICIES_PER_CALL } from '../engine/scripts/rate-limit.scripts.js';
import { RATE_LIMIT_POLICIES, RATE_LIMIT_SKIP } from './rate-limit.decorator.js';
import { RateLimitConfigError, resolvePolicy, type RateLimitOptions, type ResolvedRateLimitModuleOptions } from './rate-limit.options.js';
import type { ScopedPolicy } from './rate-limiter.service.js';

const defaultsCache = new WeakMap<ResolvedRateLimitModuleOptions, ScopedPolicy[]>();

/** The module's `rateLimit.defaults`, resolved once per options object (scope `g`: one budget across every guarded handler). */
export function defaultPolicies(settings: ResolvedRateLimitModuleOptions): ScopedPolicy[] {
  let list = defaultsCache.get(settings);
  if (!list) {
    list = settings.defaults.map((p, i) => ({ ...resolvePolicy(p, `rateLimit.defaults[${i}]`), scope: 'g' }));
    defaultsCache.set(settings, list);
  }
  return list;
}

/**
 * The policies of a handler: module defaults, then the class's, then the handler's; a later policy
 * replaces one of the same name. Null when `@SkipRateLimit` exempts it. Shared by the HTTP, WebSocket
 * and RPC guards, so one `@RateLimit` means the same budget whatever the transport.
 */
export function compileRoutePolicies(reflector: Reflector, controller: Function, handler: Function, settings: ResolvedRateLimitModuleOptions): ScopedPolicy[] | null {
  if (reflector.getAllAndOverride<boolean>(RATE_LIMIT_SKIP, [handler, controller])) return null;
  const byName = new Map<string, ScopedPolicy>();
  for (const p of defaultPolicies(settings)) byName.set(p.name, p);
  // Budgets are keyed by what clients address (route, message, pattern); errors name the code.
  const levels: Array<[object, () => string, string]> = [
    [controller, () => classScope(controller), controller.name],
    [handler, () => handlerScope(controller, handler), `${controller.name}.${handler.name}`],
  ];
  for (const [holder, scopeOf, where] of levels) {
    const declared = (Reflect.getMetadata(RATE_LIMIT_POLICIES, holder) as RateLimitOptions[] | undefined) ?? [];
    if (declared.length === 0) continue;
    const scope = scopeOf();
    const seen = new Set<string>();
    for (const options of declared) {
      const policy = { ...resolvePolicy(options, `@RateLimit on ${where}`), scope };
      if (seen.has(policy.name)) throw new RateLimitConfigError(`@RateLimit on ${where}: two policies are named "${policy.name}"; give each a distinct name`);
      seen.add(policy.name);
      byName.set(policy.name, policy);
    }
  }
  const policies = [...byName.values()];
  if (policies.length > MAX_POLICIES_PER_CALL) throw new RateLimitConfigError(`${controller.name}.${handler.name} has ${policies.length} rate-limit policies; at most ${MAX_POLICIES_PER_CALL}`);
  return policies;
}

// Metadata keys of @nestjs/websockets and @nestjs/microservices, read here without importing them
// (both are optional peers of the main entry).
export const GATEWAY_METADATA = 'websockets:is_gateway';
const GATEWAY_OPTIONS = 'websockets:gateway_options';
const PORT_METADATA = 'port';
export const MESSAGE_METADATA = 'message';
export const PATTERN_METADATA = 'microservices:pattern';
const PATTERN_HANDLER_METADATA = 'microservices:handler_type';
const EVENT_HANDLER = 2;

/**
 * The budget scope of a handler's own policies: the HTTP route (`GET /auth/login`, see
 * `routeTemplate`), the WebSocket message (`ws /chat say`: port when declared, namespace, message)
 * or the RPC pattern (`rpc {"cmd":"sum"}`, `event "user.created"`), so renaming a class or a method
 * keeps its budgets. `Class.method` only for a handler none of these describe.
 */
export function handlerScope(controller: Function, handler: Function): string {
  const route = routeTemplate(controller, handler);
  if (route !== undefined) return bounded(route);
  const message = Reflect.getMetadata(MESSAGE_METADATA, handler) as unknown;
  if (message !== undefined && Reflect.getMetadata(GATEWAY_METADATA, controller) === true) {
    return bounded(`ws ${gatewayPath(controller)} ${typeof message === 'string' ? message : stableJson(message)}`);
  }
  const patterns = Reflect.getMetadata(PATTERN_METADATA, handler) as unknown[] | undefined;
  if (Array.isArray(patterns) && patterns.length > 0) {
    const kind = Reflect.getMetadata(PATTERN_HANDLER_METADATA, handler) === EVENT_HANDLER ? 'event' : 'rpc';
    return bounded(`${kind} ${patterns.map(stableJson).join(' | ')}`);
  }
  return `${controller.name}.${handler.name}`;
}

/**
 * The budget scope of a class's policies (one budget across its handlers): the controller's path
 * (`/auth`) or the gateway's namespace (`ws /chat`). A class at the root (no path, no namespace)
 * has nothing that tells it from other root classes, so its name is the scope then.
 */
export function classScope(controller: Function): string {
  if (Reflect.getMetadata(GATEWAY_METADATA, controller) === true) {
    const path = gatewayPath(controller);
    return path === '/' ? controller.name : bounded(`ws ${path}`);
  }
  const path = controllerTemplate(controller);
  return path === undefined || path === '/' ? controller.name : bounded(path);
}

// Port (when declared), server path (platform-ws `path`, Socket.IO's engine path) and namespace:
// what a client connects to.
function gatewayPath(gateway: Function): string {
  const options = Reflect.getMetadata(GATEWAY_OPTIONS, gateway) as { namespace?: unknown; path?: unknown } | undefined;
  const port = Reflect.getMetadata(PORT_METADATA, gateway) as number | undefined;
  const ns = options?.namespace;
  const namespace = ns === undefined ? '' : typeof ns === 'string' ? `/${ns.replace(/^\/+/, '')}` : String(ns);
  const path = typeof options?.path === 'string' ? `/${options.path.replace(/^\/+|\/+$/g, '')}` : '';
  const where = `${path}${namespace && path ? '#' : ''}${namespace}` || '/';
  return port ? `:${port}${where}` : where;
}

// Patterns are objects whose key order is not meaningful (Nest matches them with sorted keys).
function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? String(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

// Every key carries its scope: a long one (a large RPC pattern) is replaced by a hash of it.
function bounded(scope: string): string {
  return scope.length <= 200 ? scope : `#${createHash('sha256').update(scope).digest('base64url').slice(0, 32)}`;
}
