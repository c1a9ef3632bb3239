import { Injectable } from '@nestjs/common';
import { RedisConnection } from 'nestjs-redis-kit';
import { DemoDatabase } from '../database/database.service.js';

export const LEADERBOARD_KEY = 'demo:leaderboard';

export interface LeaderboardEntry {
  rank: number;
  organizer: { id: string; name: string };
  seatsBooked: number;
}

/**
 * Top organizers by seats booked: a sorted set in Redis (through the StoreEngine, so it also works
 * on the embedded store and during an outage), incremented on each booking. The database stays the
 * source of truth: an empty set (fresh Redis, or one restarted without persistence) is rebuilt from it.
 */
@Injectable()
export class LeaderboardService {
  constructor(
    private readonly connection: RedisConnection,
    private readonly db: DemoDatabase,
  ) {}

  /** Called after the booking committed: a rebuild from the database already includes it. */
  async record(organizerId: string, seats: number): Promise<void> {
    const engine = this.connection.engine;
    if ((await engine.zcard(LEADERBOARD_KEY)) === 0) return this.rebuild();
    // Replayed on recovery if made while Redis is away, so no booking goes uncounted.
    await engine.zincrby(LEADERBOARD_KEY, seats, organizerId, { replayOnRecovery: true });
  }

  async top(limit: number): Promise<LeaderboardEntry[]> {
    const engine = this.connection.engine;
    if ((await engine.zcard(LEADERBOARD_KEY)) === 0) await this.rebuild();
    const [entries, organizers] = await Promise.all([
      engine.zrange(LEADERBOARD_KEY, 0, limit - 1, { reverse: true }),
      this.db.all<{ id: string; name: string }>('SELECT id, name FROM organizers'),
    ]);
    const names = new Map(organizers.map((o) => [o.id, o.name]));
    return entries.map((e, i) => ({ rank: i + 1, organizer: { id: e.member, name: names.get(e.member) ?? e.member }, seatsBooked: e.score }));
  }

  /** ZADD with absolute counts: instances rebuilding at the same time write the same values. */
  private async rebuild(): Promise<void> {
    const rows = await this.db.all<{ organizer_id: string; seats: number }>(
      'SELECT t.organizer_id, SUM(b.seats) AS seats FROM bookings b JOIN trips t ON t.id = b.trip_id GROUP BY t.organizer_id',
    );
    if (rows.length > 0) await this.connection.engine.zadd(LEADERBOARD_KEY, rows.map((r) => ({ member: r.organizer_id, score: r.seats })));
  }
}
