import { ConfigurableModuleBuilder } from '@nestjs/common';
import { REDIS_MODULE_OPTIONS } from './connection/redis.tokens.js';
import type { RedisModuleOptions } from './redis.options.js';

export { REDIS_MODULE_OPTIONS };

/** Options of `RedisModule.forRoot`/`forRootAsync` that shape the module itself rather than the connection. */
export interface RedisModuleExtras {
  /** Register the module's providers globally. */
  isGlobal: boolean;
  /** Connection name, for apps with more than one Redis (e.g. `'sessions'` on a noeviction Redis). */
  name?: string;
}

export const {
  ConfigurableModuleClass: ConfigurableRedisModule,
  OPTIONS_TYPE: REDIS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: REDIS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<RedisModuleOptions>({ moduleName: 'Redis', optionsInjectionToken: REDIS_MODULE_OPTIONS })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createRedisOptions')
  .setExtras<RedisModuleExtras>({ isGlobal: false, name: undefined }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
