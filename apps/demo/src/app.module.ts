import { Module, ValidationPipe } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_PIPE } from '@nestjs/core';
import { RedisModule, redisOptionsFromEnv } from 'nestjs-redis-kit';
import { AdminModule } from './admin/admin.module.js';
import { AuthModule } from './auth/auth.module.js';
import { ChatModule } from './chat/chat.module.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthModule } from './health/health.module.js';
import { LeaderboardModule } from './leaderboard/leaderboard.module.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import { RecommendationsModule } from './recommendations/recommendations.module.js';
import { StatusController } from './status.controller.js';
import { TripsModule } from './trips/trips.module.js';
import { VisitsController } from './visits.controller.js';

@Module({
  imports: [
    // Under jest the tests own the environment: a developer's .env must not point them at a Redis.
    ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: process.env.NODE_ENV === 'test' }),
    RedisModule.forRootAsync({
      isGlobal: true,
      inject: [ConfigService],
      useFactory: (config: ConfigService) => redisOptionsFromEnv(config),
    }),
    DatabaseModule,
    HealthModule,
    AuthModule,
    TripsModule,
    RecommendationsModule,
    LeaderboardModule,
    NotificationsModule,
    AdminModule,
    ChatModule,
  ],
  controllers: [StatusController, VisitsController],
  providers: [
    // As a provider rather than in main.ts, so every way of booting the module (tests too) validates.
    // Unknown fields are refused rather than silently dropped: a typo in a field name is a 400.
    { provide: APP_PIPE, useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }) },
  ],
})
export class AppModule {}
