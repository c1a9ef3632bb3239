import { Controller, Get } from '@nestjs/common';
import { RedisConnection, type RedisStatus } from 'nestjs-redis-kit';

export interface DemoStatus {
  service: 'demo';
  redis: RedisStatus;
}

@Controller()
export class StatusController {
  constructor(private readonly connection: RedisConnection) {}

  @Get()
  status(): DemoStatus {
    return { service: 'demo', redis: this.connection.status() };
  }
}
