import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Res, UseGuards } from '@nestjs/common';
import { RateLimit, RateLimitGuard, RedisMetrics } from 'nestjs-redis-kit';
import { AuthGuard } from '../auth/auth.guard.js';
import { CurrentUser } from '../auth/auth.decorators.js';
import type { AuthUser } from '../auth/auth.user.js';
import { CreateBookingDto, CreateTripDto, ListTripsQuery, TripIdParams, UpdateTripDto } from './trips.dto.js';
import { TripsService, type Cached } from './trips.service.js';

interface HeaderSink {
  setHeader(name: string, value: string): void;
}

@Controller('trips')
export class TripsController {
  constructor(
    private readonly trips: TripsService,
    private readonly metrics: RedisMetrics,
  ) {}

  @Get()
  async list(@Query() query: ListTripsQuery, @Res({ passthrough: true }) res: HeaderSink) {
    return this.withCacheHeader(res, '/trips', await this.trips.list(query));
  }

  @Get(':id')
  async get(@Param() params: TripIdParams, @Res({ passthrough: true }) res: HeaderSink) {
    return this.withCacheHeader(res, '/trips/:id', await this.trips.get(params.id));
  }

  /**
   * `X-Cache` shows how each read was answered, so the cache's effect is visible with curl -i; the
   * same outcome goes to the per-route hit ratio (`redis_kit_cache_route_requests_total`), as
   * `@Cacheable` reports it for the routes it caches.
   */
  private withCacheHeader<T>(res: HeaderSink, route: string, result: Cached<T>): T {
    res.setHeader('X-Cache', result.cache);
    if (result.cache !== 'BYPASS') this.metrics.cacheRoute(route, result.cache === 'HIT' ? 'hit' : result.cache === 'STALE' ? 'stale' : 'miss');
    return result.value;
  }

  @Post()
  @UseGuards(AuthGuard)
  create(@Body() body: CreateTripDto, @CurrentUser() user: AuthUser) {
    return this.trips.create(body, user);
  }

  @Patch(':id')
  @UseGuards(AuthGuard)
  update(@Param() params: TripIdParams, @Body() body: UpdateTripDto, @CurrentUser() user: AuthUser) {
    return this.trips.update(params.id, body, user);
  }

  @Delete(':id')
  @UseGuards(AuthGuard)
  delete(@Param() params: TripIdParams, @CurrentUser() user: AuthUser) {
    return this.trips.delete(params.id, user);
  }

  // After AuthGuard, so the budget is the user's own, wherever the request came from.
  @Post(':id/bookings')
  @UseGuards(AuthGuard, RateLimitGuard)
  @RateLimit({ limit: 30, window: '1m', name: 'bookings', by: 'user' })
  book(@Param() params: TripIdParams, @Body() body: CreateBookingDto, @CurrentUser() user: AuthUser) {
    return this.trips.book(params.id, body.seats, user);
  }
}
