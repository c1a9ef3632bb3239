import { Inject, Injectable, Logger, Optional, type CanActivate, type OnApplicationBootstrap } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ApplicationConfig, DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import { RATE_LIMIT_POLICIES, RATE_LIMIT_SKIP } from './rate-limit.decorator.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimitConfigError, type ResolvedRateLimitModuleOptions } from './rate-limit.options.js';
import { GATEWAY_METADATA, handlerScope, MESSAGE_METADATA, PATTERN_METADATA } from './rate-limit.route.js';
import { TransportRateLimitGuard } from './rate-limit.transport-guard.js';
import { RATE_LIMIT_OPTIONS } from './rate-limiter.service.js';

type HandlerKind = 'http' | 'ws' | 'rpc';

const GUARD_NAME: Record<HandlerKind, string> = { http: 'RateLimitGuard', ws: 'WsRateLimitGuard', rpc: 'RpcRateLimitGuard' };

/** An HTTP route, WebSocket message handler or RPC handler, as the check sees it. */
export interface ScannedHandler {
  kind: HandlerKind;
  /** `GET /auth/login (AuthController.login)`. */
  label: string;
  /** Carries `@RateLimit` (on it or its class) and no `@SkipRateLimit`. */
  limited: boolean;
  /** A guard of its kind runs for it. */
  guarded: boolean;
}

/**
 * Finds, when the application starts, every handler whose `@RateLimit` would do nothing because no
 * matching guard runs for it, and fails start-up (or warns: `rateLimit.unguarded`). Global guards
 * are read from the application's configuration after every `APP_GUARD` (`useClass`, `useExisting`,
 * `useValue`, `useFactory`, request-scoped) and every `app.useGlobalGuards(...)` made before
 * `listen()`/`init()` is in it, so all of them count.
 */
@Injectable()
export class RateLimitGuardCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('RateLimit');

  constructor(
    private readonly modules: ModulesContainer,
    @Inject(RATE_LIMIT_OPTIONS) private readonly settings: ResolvedRateLimitModuleOptions,
    @Optional() private readonly config?: ApplicationConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.settings.unguarded === 'ignore') return;
    const handlers = scanHandlers(this.modules, this.globalGuards());
    const found = handlers.filter((h) => h.limited && !h.guarded);
    // Module defaults apply to guarded handlers only: with routes but no guard at all, they apply nowhere.
    const idleDefaults = this.settings.defaults.length > 0 && handlers.length > 0 && !handlers.some((h) => h.guarded);
    if (found.length === 0 && !idleDefaults) return;
    const kinds = [...new Set(found.map((h) => h.kind))];
    if (idleDefaults && !kinds.includes('http')) kinds.unshift('http');
    const message = [
      ...(found.length === 0 ? [] : [`@RateLimit does nothing on ${found.length === 1 ? 'this handler' : `these ${found.length} handlers`}: no rate-limit guard runs for ${found.length === 1 ? 'it' : 'them'}.`]),
      ...found.map((h) => `  - ${h.label}: needs ${GUARD_NAME[h.kind]}`),
      ...(idleDefaults ? [`rateLimit.defaults apply to no handler: no rate-limit guard runs for any of the ${handlers.length}.`] : []),
      ...kinds.map((k) => `  ${k === 'http' ? 'HTTP routes: RedisModule.forRoot({ rateLimit: { global: true } }), an APP_GUARD or @UseGuards(RateLimitGuard)' : `${GUARD_NAME[k]}: @UseGuards(${GUARD_NAME[k]}) on the ${k === 'ws' ? 'gateway' : 'controller'} or handler, or an APP_GUARD`}.`),
      `  A guard this check cannot see (your own guard calling RateLimiter, a connected microservice's useGlobalGuards): set rateLimit.unguarded to 'warn' or 'ignore'.`,
    ].join('\n');
    if (this.settings.unguarded === 'error') throw new RateLimitConfigError(message);
    this.logger.warn(message);
  }

  private globalGuards(): unknown[] {
    if (!this.config) return [];
    return [...this.config.getGlobalGuards(), ...this.config.getGlobalRequestGuards().map((wrapper) => wrapper.metatype)];
  }
}

/** Every handler of every controller and gateway: whether it is limited, and whether a guard of its kind runs for it. */
export function scanHandlers(modules: ModulesContainer, globalGuards: readonly unknown[]): ScannedHandler[] {
  const discovery = new DiscoveryService(modules);
  const scanner = new MetadataScanner();
  const classes = new Set<Function>();
  for (const wrapper of [...discovery.getControllers(), ...discovery.getProviders()]) {
    const type = wrapper.metatype;
    if (typeof type === 'function' && type.prototype) classes.add(type);
  }
  const found: ScannedHandler[] = [];
  for (const type of classes) {
    const isGateway = Reflect.getMetadata(GATEWAY_METADATA, type) === true;
    const isController = Reflect.getMetadata(PATH_METADATA, type) !== undefined;
    if (!isGateway && !isController) continue;
    const proto = type.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(proto)) {
      const handler = proto[name];
      if (typeof handler !== 'function') continue;
      const kind = kindOf(handler, isGateway, isController);
      if (!kind) continue;
      const guards = [...globalGuards, ...guardsOn(type), ...guardsOn(handler)];
      found.push({
        kind,
        label: `${handlerScope(type, handler)} (${type.name}.${name})`,
        limited: isLimited(type, handler),
        guarded: guards.some((g) => guardsKind(g, kind)),
      });
    }
  }
  return found;
}

function kindOf(handler: Function, isGateway: boolean, isController: boolean): HandlerKind | undefined {
  if (isController && Reflect.getMetadata(METHOD_METADATA, handler) !== undefined && Reflect.getMetadata(PATH_METADATA, handler) !== undefined) return 'http';
  if (isGateway && Reflect.getMetadata(MESSAGE_METADATA, handler) !== undefined) return 'ws';
  if (Reflect.getMetadata(PATTERN_METADATA, handler) !== undefined) return 'rpc';
  return undefined;
}

/** As the guards read it: `@SkipRateLimit` on the handler wins over the class, then any declared policy. */
function isLimited(type: Function, handler: Function): boolean {
  const skip = (Reflect.getMetadata(RATE_LIMIT_SKIP, handler) as boolean | undefined) ?? (Reflect.getMetadata(RATE_LIMIT_SKIP, type) as boolean | undefined);
  if (skip) return false;
  const declared = (holder: object) => ((Reflect.getMetadata(RATE_LIMIT_POLICIES, holder) as unknown[] | undefined) ?? []).length > 0;
  return declared(handler) || declared(type);
}

function guardsOn(holder: object): unknown[] {
  return (Reflect.getMetadata(GUARDS_METADATA, holder) as unknown[] | undefined) ?? [];
}

/** A guard class or instance (a subclass counts) that limits handlers of this kind. */
function guardsKind(guard: unknown, kind: HandlerKind): boolean {
  if (guard === null || guard === undefined) return false;
  const isClass = typeof guard === 'function';
  const is = (base: Function) => (isClass ? guard === base || (guard as Function).prototype instanceof base : guard instanceof base);
  if (kind === 'http') return is(RateLimitGuard);
  if (!is(TransportRateLimitGuard)) return false;
  // Shipped guards declare their context on the prototype; a subclass of the abstract guard that
  // keeps it in an instance field cannot be read from its class, so it is given the benefit of the doubt.
  const target = (isClass ? (guard as Function).prototype : guard) as { contextType?: unknown };
  let declared: unknown;
  try {
    declared = target.contextType;
  } catch {
    declared = undefined;
  }
  return typeof declared !== 'string' || declared === kind;
}

/** A stand-in APP_GUARD for `rateLimit.global: false`: the provider is registered either way, since async options are known only at run time. */
export const PASS_THROUGH_GUARD: CanActivate = { canActivate: () => true };
