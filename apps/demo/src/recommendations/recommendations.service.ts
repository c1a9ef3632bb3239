import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, NotFoundException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CacheService } from 'nestjs-redis-kit';
import { UsersRepository } from '../auth/auth.repository.js';
import { DemoDatabase } from '../database/database.service.js';

export interface Recommendations {
  userId: string;
  /** Names one run of the computation: equal ids in two responses mean one run served both. */
  computationId: string;
  computedAt: string;
  trips: Array<{ id: number; title: string; destination: string; score: number }>;
}

/**
 * A deliberately slow "AI" recommender behind `getOrSet` with grace: concurrent requests for a cold
 * user share one computation (in this process and across instances, through the fleet-wide lock),
 * and after expiry the previous answer is served at once while one background run refreshes it.
 */
@Injectable()
export class RecommendationsService {
  private readonly cache: CacheService;
  private readonly computeMs: number;
  /** Computations run by this instance, for /admin/stats. */
  computations = 0;

  constructor(
    private readonly db: DemoDatabase,
    private readonly users: UsersRepository,
    cache: CacheService,
    config: ConfigService,
  ) {
    this.cache = cache.namespace('recommendations');
    const raw = config.get<string>('DEMO_RECOMMENDATION_MS')?.trim();
    if (raw && !/^\d+$/.test(raw)) throw new Error(`DEMO_RECOMMENDATION_MS must be a whole number of milliseconds (got ${JSON.stringify(raw)})`);
    this.computeMs = raw ? Number(raw) : 1_500;
  }

  async forUser(userId: string): Promise<Recommendations> {
    if (!(await this.users.findById(userId))) throw new NotFoundException(`user ${userId} does not exist`);
    return this.cache.getOrSet(`user:${userId}`, () => this.compute(userId), { ttl: '1m', grace: '10m' });
  }

  private async compute(userId: string): Promise<Recommendations> {
    this.computations++;
    await sleep(this.computeMs);
    // Popular destinations the user has not booked yet, trips with seats left, best first.
    const trips = await this.db.all<{ id: number; title: string; destination: string; score: number }>(
      `WITH popularity AS (
         SELECT t.destination, SUM(b.seats) AS booked FROM bookings b JOIN trips t ON t.id = b.trip_id GROUP BY t.destination),
       mine AS (
         SELECT DISTINCT t.destination FROM bookings b JOIN trips t ON t.id = b.trip_id WHERE b.user_id = ?)
       SELECT t.id, t.title, t.destination,
              COALESCE(p.booked, 0) + CASE WHEN t.destination IN (SELECT destination FROM mine) THEN 0 ELSE 10 END AS score
       FROM trips t LEFT JOIN popularity p ON p.destination = t.destination
       WHERE t.seats > COALESCE((SELECT SUM(seats) FROM bookings WHERE trip_id = t.id), 0)
         AND t.id NOT IN (SELECT trip_id FROM bookings WHERE user_id = ?)
       ORDER BY score DESC, t.id
       LIMIT 5`,
      [userId, userId],
    );
    return { userId, computationId: randomUUID(), computedAt: new Date().toISOString(), trips };
  }
}
