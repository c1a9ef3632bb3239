import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { HealthModule } from '../health/health.module.js';
import { RecommendationsModule } from '../recommendations/recommendations.module.js';
import { AdminController } from './admin.controller.js';
import { AdminService } from './admin.service.js';

@Module({
  // HealthModule re-exports the metrics exporter, whose counters hold the rate-limit decisions.
  imports: [AuthModule, HealthModule, RecommendationsModule],
  controllers: [AdminController],
  providers: [AdminService],
})
export class AdminModule {}
