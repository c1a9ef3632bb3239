import { type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, type ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { CacheInputError } from './cache.errors.js';
import { CACHE_EVICT_METADATA, CACHED_METADATA, cachedMethod, evictingMethod, type CacheEvictOptions, type CachedOptions } from './cache.methods.js';
import type { CacheService } from './cache.service.js';

/**
 * Finds `@Cached` and `@CacheEvict` methods on the application's providers at start-up and
 * replaces them on each instance (an own property over the prototype's method) with one that goes
 * through this application's `CacheService`. Nothing is patched on classes: two applications in one
 * process (tests) each wrap their own instances.
 */
export class CacheMethodsExplorer implements OnModuleInit {
  constructor(
    private readonly cache: CacheService,
    private readonly modules: ModulesContainer,
  ) {}

  onModuleInit(): void {
    const discovery = new DiscoveryService(this.modules);
    const scanner = new MetadataScanner();
    const done = new Set<object>();
    const names = new Map<string, object>();
    for (const wrapper of discovery.getControllers()) {
      const proto = prototypeOf(wrapper);
      if (!proto) continue;
      for (const method of scanner.getAllMethodNames(proto)) {
        if (metadataOf(proto, method, CACHED_METADATA)) {
          throw new CacheInputError(`@Cached on ${className(proto)}.${method}: a controller route is cached with @Cacheable, @Cached is for provider methods`);
        }
      }
    }
    for (const wrapper of discovery.getProviders()) {
      const proto = prototypeOf(wrapper);
      if (!proto) continue;
      for (const method of scanner.getAllMethodNames(proto)) {
        const cached = metadataOf<CachedOptions>(proto, method, CACHED_METADATA);
        const evict = metadataOf<CacheEvictOptions>(proto, method, CACHE_EVICT_METADATA);
        if (!cached && !evict) continue;
        const where = `${className(proto)}.${method}`;
        const decorator = cached ? '@Cached' : '@CacheEvict';
        if (cached && evict) throw new CacheInputError(`${where} carries both @Cached and @CacheEvict: a method either reads through the cache or invalidates it`);
        if (wrapper.isTransient || !wrapper.isDependencyTreeStatic()) {
          throw new CacheInputError(
            `${decorator} on ${where}: ${wrapper.isTransient ? 'transient' : 'request-scoped'} providers are not supported (Nest creates their instances after start-up). Move the method to a singleton provider`,
          );
        }
        const instance = wrapper.instance as Record<string, unknown>;
        if (done.has(instance)) continue;
        if (cached && cached.name === undefined && cached.key === undefined) {
          const owner = names.get(where);
          if (owner && owner !== proto) {
            throw new CacheInputError(`@Cached on ${where}: two different classes are named ${className(proto)} (a minified build?), so their entries would share keys; give each @Cached a name`);
          }
          names.set(where, proto);
        }
        const original = (proto as Record<string, unknown>)[method] as (...args: unknown[]) => unknown;
        const replacement = cached ? cachedMethod(this.cache, original, cached, where) : evictingMethod(this.cache, original, evict!, where);
        Object.defineProperty(instance, method, { value: replacement, configurable: true, writable: true, enumerable: false });
      }
      if (wrapper.instance && typeof wrapper.instance === 'object') done.add(wrapper.instance);
    }
  }
}

function prototypeOf(wrapper: InstanceWrapper): object | null {
  const instance = wrapper.instance as unknown;
  if (!instance || typeof instance !== 'object') return null;
  const proto = Object.getPrototypeOf(instance) as object | null;
  return proto && proto !== Object.prototype ? proto : null;
}

function metadataOf<T>(proto: object, method: string, key: string): T | undefined {
  const fn = (proto as Record<string, unknown>)[method];
  return typeof fn === 'function' ? (Reflect.getMetadata(key, fn) as T | undefined) : undefined;
}

function className(proto: object): string {
  return (proto as { constructor?: { name?: string } }).constructor?.name || 'anonymous';
}
