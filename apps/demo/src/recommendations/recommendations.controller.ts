import { Controller, Get, Param } from '@nestjs/common';
import { Matches } from 'class-validator';
import { RecommendationsService } from './recommendations.service.js';

export class UserIdParams {
  @Matches(/^[a-z0-9-]{1,32}$/, { message: 'userId must be 1-32 lowercase letters, digits or dashes' })
  userId!: string;
}

@Controller('recommendations')
export class RecommendationsController {
  constructor(private readonly recommendations: RecommendationsService) {}

  @Get(':userId')
  forUser(@Param() params: UserIdParams) {
    return this.recommendations.forUser(params.userId);
  }
}
