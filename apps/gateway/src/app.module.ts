import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { RedisModule, redisOptionsFromEnv } from 'nestjs-redis-kit';
import { HealthModule } from './health/health.module.js';
import { StatusController } from './status.controller.js';
import { upstreamProvider } from './upstream.config.js';

@Module({
  imports: [
    // Under jest the tests own the environment: a developer's .env must not point them at a Redis.
    ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: process.env.NODE_ENV === 'test' }),
    RedisModule.forRootAsync({
      isGlobal: true,
      inject: [ConfigService],
      useFactory: (config: ConfigService) => redisOptionsFromEnv(config),
    }),
    HealthModule,
  ],
  controllers: [StatusController],
  providers: [upstreamProvider],
})
export class AppModule {}
