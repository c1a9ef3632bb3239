import { Inject } from '@nestjs/common';

/** Connections are named so sessions can live on their own (e.g. a `noeviction`) Redis. */
export const DEFAULT_REDIS_NAME = 'default';

const tokenFor = (what: string, name?: string) => `REDIS:${what}:${name ?? DEFAULT_REDIS_NAME}`;

/** Injection token of the options given to `RedisModule.forRoot` / `forRootAsync` (per module). */
export const REDIS_MODULE_OPTIONS = 'REDIS:MODULE_OPTIONS';

/** Injection token of the ioredis client (`Redis | Cluster`) of a connection. */
export const getRedisToken = (name?: string): string => tokenFor('CLIENT', name);
/** Injection token of the `RedisConnection` of a connection. */
export const getRedisConnectionToken = (name?: string): string => tokenFor('CONNECTION', name);
/** Injection token of the `StoreEngine` of a connection (what capabilities talk to). */
export const getStoreEngineToken = (name?: string): string => tokenFor('ENGINE', name);

/** Injects the ioredis client; `null` when no Redis is configured (embedded store only). */
export const InjectRedis = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getRedisToken(name));
/** Injects the `RedisConnection` of a connection (default: the default connection). */
export const InjectRedisConnection = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getRedisConnectionToken(name));
/** Injects the `StoreEngine` of a connection: the port capabilities talk to. */
export const InjectStoreEngine = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getStoreEngineToken(name));
