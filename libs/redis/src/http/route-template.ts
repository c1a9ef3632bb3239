import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, VERSION_METADATA } from '@nestjs/common/constants.js';

/**
 * The route a handler serves, as declared: `GET /trips/:id` (and `v2 ` in front when versioned).
 * Keys built from it survive a renamed class or method and a minifier that shortens both, where
 * `Controller.handler` names would reset budgets and empty caches. The global prefix is left out on
 * purpose: it is deployment configuration, and changing it should not reset anything either.
 * Undefined when the handler is not an HTTP route (a WebSocket or RPC handler).
 */
export function routeTemplate(controller: Function, handler: Function): string | undefined {
  const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
  const handlerPath = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
  if (method === undefined || handlerPath === undefined) return undefined;
  const path = joinPaths(firstPath(Reflect.getMetadata(PATH_METADATA, controller)), firstPath(handlerPath));
  const version = Reflect.getMetadata(VERSION_METADATA, handler) ?? Reflect.getMetadata(VERSION_METADATA, controller);
  const verb = RequestMethod[method] ?? String(method);
  return version === undefined ? `${verb} ${path}` : `v${[version].flat().map(String).join('|')} ${verb} ${path}`;
}

/**
 * The path a controller class serves (`/trips`), for budgets shared by all its routes. Undefined
 * when the class is not an HTTP controller.
 */
export function controllerTemplate(controller: Function): string | undefined {
  const path = Reflect.getMetadata(PATH_METADATA, controller) as string | string[] | undefined;
  return path === undefined ? undefined : joinPaths(firstPath(path), '');
}

// A route declared under several paths (`@Get(['a', 'b'])`) is one handler with one budget: the first names it.
function firstPath(path: unknown): string {
  const first = Array.isArray(path) ? path[0] : path;
  return typeof first === 'string' ? first : '';
}

function joinPaths(base: string, sub: string): string {
  const joined = [base, sub].map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p.length > 0).join('/');
  return `/${joined}`;
}
