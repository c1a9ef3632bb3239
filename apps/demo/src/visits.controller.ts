import { Controller, Get } from '@nestjs/common';
import { RedisConnection } from 'nestjs-redis-kit';

/** Exported so tests can look the counter up in Redis under the same name. */
export const VISITS_KEY = 'demo:visits';

@Controller('visits')
export class VisitsController {
  constructor(private readonly connection: RedisConnection) {}

  // Through the engine rather than the ioredis client, so it keeps counting on the embedded store
  // and while Redis is away.
  @Get()
  async visit(): Promise<{ visits: number }> {
    return { visits: await this.connection.engine.incrBy(VISITS_KEY, 1) };
  }
}
