import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { LeaderboardService } from './leaderboard.service.js';

export class LeaderboardQuery {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100)
  limit?: number;
}

@Controller('leaderboard')
export class LeaderboardController {
  constructor(private readonly leaderboard: LeaderboardService) {}

  @Get()
  top(@Query() query: LeaderboardQuery) {
    return this.leaderboard.top(query.limit ?? 10);
  }

  /** One organizer's rank, its neighbours and its own (tenant-scoped) last bookings per trip. */
  @Get(':organizerId')
  async standing(@Param('organizerId') organizerId: string) {
    const standing = await this.leaderboard.standing(organizerId);
    if (!standing) throw new NotFoundException(`organizer ${organizerId} does not exist`);
    return standing;
  }
}
