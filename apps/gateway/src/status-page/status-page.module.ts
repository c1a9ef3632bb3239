import { Module } from '@nestjs/common';
import { HealthModule } from '../health/health.module.js';
import { upstreamProviders } from '../upstream.config.js';
import { StatusPageAuth } from './status-page.auth.js';
import { statusPageProviders } from './status-page.config.js';
import { StatusPageController } from './status-page.controller.js';
import { StatusPageFeed } from './status-page.feed.js';

/** `/status`: the live status page (see StatusPageController). */
@Module({
  imports: [HealthModule],
  controllers: [StatusPageController],
  providers: [StatusPageAuth, StatusPageFeed, ...statusPageProviders, ...upstreamProviders],
})
export class StatusPageModule {}
