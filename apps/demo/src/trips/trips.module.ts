import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { LeaderboardModule } from '../leaderboard/leaderboard.module.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { TripsController } from './trips.controller.js';
import { TripsRepository } from './trips.repository.js';
import { TripsService } from './trips.service.js';

@Module({
  imports: [AuthModule, LeaderboardModule, NotificationsModule],
  controllers: [TripsController],
  providers: [TripsService, TripsRepository],
  exports: [TripsRepository, TripsService],
})
export class TripsModule {}
