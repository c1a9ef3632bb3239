import { Controller, Get, Inject } from '@nestjs/common';
import { RedisConnection, type RedisStatus } from 'nestjs-redis-kit';
import { UPSTREAM_URL } from './upstream.config.js';

export interface GatewayStatus {
  service: 'gateway';
  redis: RedisStatus;
  upstream: string;
}

@Controller()
export class StatusController {
  constructor(
    private readonly connection: RedisConnection,
    @Inject(UPSTREAM_URL) private readonly upstream: string,
  ) {}

  @Get()
  status(): GatewayStatus {
    return { service: 'gateway', redis: this.connection.status(), upstream: this.upstream };
  }
}
