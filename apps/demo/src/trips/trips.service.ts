import { ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { CacheService, type CacheOutcome } from 'nestjs-redis-kit';
import type { AuthUser } from '../auth/auth.user.js';
import { LeaderboardService } from '../leaderboard/leaderboard.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import type { CreateTripDto, ListTripsQuery, UpdateTripDto } from './trips.dto.js';
import { TripsRepository, type Booking, type Trip, type TripPage } from './trips.repository.js';

/** What a read returns: the value and how the cache answered (`BYPASS` with DEMO_CACHE=off). */
export interface Cached<T> {
  value: T;
  cache: CacheOutcome | 'BYPASS';
}

// Lists depend on every trip, so any write drops them all; a trip's own entry only on its own writes.
const LIST_TAG = 'trips';
const tripTag = (id: number) => `trip:${id}`;

/**
 * Trips, cache-aside. Tags are versioned in Redis, so an invalidation on one instance is seen by the
 * next read on every other instance, and one made while Redis is away is replayed when it returns.
 */
@Injectable()
export class TripsService {
  private readonly cache: CacheService | null;

  constructor(
    private readonly trips: TripsRepository,
    private readonly leaderboard: LeaderboardService,
    private readonly notifications: NotificationsService,
    cache: CacheService,
    config: ConfigService,
  ) {
    // DEMO_CACHE=off exists for the gateway benchmark's "without cache" column.
    this.cache = config.get<string>('DEMO_CACHE')?.trim().toLowerCase() === 'off' ? null : cache.namespace('trips');
  }

  list(query: ListTripsQuery): Promise<Cached<TripPage>> {
    // Normalised, so `?page=1` and no page share an entry.
    const key = `list:${JSON.stringify([query.destination?.toLowerCase() ?? null, query.organizerId ?? null, query.maxPriceCents ?? null, query.page ?? 1, query.pageSize ?? 10])}`;
    return this.read(key, [LIST_TAG], () => this.trips.list(query));
  }

  async get(id: number): Promise<Cached<Trip>> {
    // A miss is cached too (tagged with the id a future trip would get), so probing unknown ids
    // does not reach the database every time.
    const found = await this.read(`trip:${id}`, [tripTag(id)], () => this.trips.findById(id));
    if (!found.value) throw new NotFoundException(`trip ${id} does not exist`);
    return { value: found.value, cache: found.cache };
  }

  async create(input: CreateTripDto, user: AuthUser): Promise<Trip> {
    const trip = await this.trips.create(input, user.id);
    await this.invalidate(trip.id);
    return trip;
  }

  async update(id: number, changes: UpdateTripDto, user: AuthUser): Promise<Trip> {
    await this.assertMayEdit(id, user);
    if (!(await this.trips.update(id, changes))) throw new NotFoundException(`trip ${id} does not exist`);
    // After the commit: a read between commit and invalidation may cache the new row, never the old one after it.
    await this.invalidate(id);
    return (await this.trips.findById(id))!;
  }

  async delete(id: number, user: AuthUser): Promise<{ deleted: true }> {
    await this.assertMayEdit(id, user);
    if (!(await this.trips.delete(id))) throw new NotFoundException(`trip ${id} does not exist`);
    await this.invalidate(id);
    return { deleted: true };
  }

  async book(id: number, seats: number, user: AuthUser): Promise<Booking> {
    const booking = await this.trips.book(id, user.id, seats);
    if (!booking) throw new NotFoundException(`trip ${id} does not exist`);
    // Seats left changed: the trip and every list showing it.
    await this.invalidate(id);
    await this.leaderboard.record(booking.organizerId, id, booking.seats);
    await this.notifications.bookingMade(booking);
    return booking;
  }

  private async read<T>(key: string, tags: string[], load: () => Promise<T>): Promise<Cached<T>> {
    if (!this.cache) return { value: await load(), cache: 'BYPASS' };
    const { value, outcome } = await this.cache.getOrSetWithOutcome(key, load, { ttl: '5m', tags });
    return { value, cache: outcome };
  }

  private async invalidate(id: number): Promise<void> {
    await this.cache?.invalidateTags([LIST_TAG, tripTag(id)]);
  }

  private async assertMayEdit(id: number, user: AuthUser): Promise<void> {
    const owner = await this.trips.ownerOf(id);
    if (!owner) throw new NotFoundException(`trip ${id} does not exist`);
    if (user.role !== 'admin' && owner.createdBy !== user.id) throw new ForbiddenException(`trip ${id} belongs to another organizer; only its creator or an admin may change it`);
  }
}
