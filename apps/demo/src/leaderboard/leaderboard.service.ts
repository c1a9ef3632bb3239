import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { RedisCollections, RedisConnection, RedisUnavailableError, type RedisLeaderboard } from 'nestjs-redis-kit';
import { DemoDatabase } from '../database/database.service.js';

export interface LeaderboardEntry {
  rank: number;
  organizer: { id: string; name: string };
  seatsBooked: number;
}

/** What each organizer's own (tenant-scoped) map keeps about its trips: the last booking of each. */
export interface LastBooking {
  seats: number;
  at: Date;
}

export interface OrganizerStanding {
  organizer: { id: string; name: string };
  rank: number | null;
  seatsBooked: number;
  neighbours: LeaderboardEntry[];
  /** Trip id → last booking, from the organizer's tenant-scoped map. */
  lastBookings: Record<string, LastBooking>;
}

/**
 * Top organizers by seats booked: the library's leaderboard (a sorted set, shared by every
 * instance), incremented on each booking. The database stays the source of truth: an empty board
 * (fresh Redis, or one restarted without persistence) is rebuilt from it with absolute scores.
 *
 * Increments fail closed while Redis is away (a replayed increment could count a booking twice);
 * the board is then marked stale and rebuilt from the database once Redis is back, which counts
 * every booking exactly once.
 */
@Injectable()
export class LeaderboardService implements OnModuleDestroy {
  private readonly logger = new Logger(LeaderboardService.name);
  private readonly board: RedisLeaderboard;
  private stale = false;
  private readonly stopListening: () => void;

  constructor(
    private readonly collections: RedisCollections,
    connection: RedisConnection,
    private readonly db: DemoDatabase,
  ) {
    this.board = collections.leaderboard('organizers');
    this.stopListening = connection.engine.onModeChange((mode) => {
      if (mode === 'redis' && this.stale) void this.rebuild().catch((error: unknown) => this.logger.warn(`leaderboard rebuild failed: ${String(error)}`));
    });
  }

  onModuleDestroy(): void {
    this.stopListening();
  }

  /** Called after the booking committed: a rebuild from the database already includes it. */
  async record(organizerId: string, tripId: number, seats: number): Promise<void> {
    // Absolute value, replayed after an outage: the organizer's own map of last bookings.
    await this.lastBookings(organizerId).set(tripId, { seats, at: new Date() });
    try {
      if (this.stale || (await this.board.size()) === 0) return await this.rebuild();
      await this.board.incr(organizerId, seats);
    } catch (error) {
      if (!(error instanceof RedisUnavailableError)) throw error;
      this.stale = true;
    }
  }

  async top(limit: number): Promise<LeaderboardEntry[]> {
    if ((await this.board.size()) === 0) await this.rebuild();
    const [entries, names] = await Promise.all([this.board.top(limit), this.names()]);
    return entries.map((e) => ({ rank: e.rank, organizer: { id: e.member, name: names.get(e.member) ?? e.member }, seatsBooked: e.score }));
  }

  async standing(organizerId: string): Promise<OrganizerStanding | null> {
    const names = await this.names();
    if (!names.has(organizerId)) return null;
    if ((await this.board.size()) === 0) await this.rebuild();
    const [rank, score, around, last] = await Promise.all([
      this.board.rank(organizerId),
      this.board.score(organizerId),
      this.board.around(organizerId, 1),
      this.lastBookings(organizerId).entries(),
    ]);
    return {
      organizer: { id: organizerId, name: names.get(organizerId)! },
      rank,
      seatsBooked: score ?? 0,
      neighbours: around.map((e) => ({ rank: e.rank, organizer: { id: e.member, name: names.get(e.member) ?? e.member }, seatsBooked: e.score })),
      lastBookings: Object.fromEntries(last),
    };
  }

  private lastBookings(organizerId: string) {
    return this.collections.map<LastBooking>('last-bookings', { tenant: organizerId });
  }

  private async names(): Promise<Map<string, string>> {
    const organizers = await this.db.all<{ id: string; name: string }>('SELECT id, name FROM organizers');
    return new Map(organizers.map((o) => [o.id, o.name]));
  }

  /** Absolute scores: instances rebuilding at the same time write the same values. */
  private async rebuild(): Promise<void> {
    const rows = await this.db.all<{ organizer_id: string; seats: number }>(
      'SELECT t.organizer_id, SUM(b.seats) AS seats FROM bookings b JOIN trips t ON t.id = b.trip_id GROUP BY t.organizer_id',
    );
    if (rows.length > 0) await this.board.add(rows.map((r) => ({ member: r.organizer_id, score: r.seats })));
    if ((await this.board.size()) > 0) this.stale = false;
  }
}
