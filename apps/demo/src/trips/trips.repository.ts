import { BadRequestException, ConflictException, Injectable } from '@nestjs/common';
import type { SqlValue } from 'sql.js';
import { DemoDatabase } from '../database/database.service.js';
import type { CreateTripDto, ListTripsQuery, UpdateTripDto } from './trips.dto.js';

export interface Trip {
  id: number;
  title: string;
  destination: string;
  organizer: { id: string; name: string };
  priceCents: number;
  startsOn: string;
  seats: number;
  seatsLeft: number;
  createdBy: string | null;
  updatedAt: string;
}

export interface TripPage {
  items: Trip[];
  page: number;
  pageSize: number;
  total: number;
}

export interface Booking {
  id: number;
  tripId: number;
  userId: string;
  seats: number;
  createdAt: string;
  organizerId: string;
  /** The user who created the trip (null for trips without one). */
  createdBy: string | null;
}

interface TripRow {
  id: number;
  title: string;
  destination: string;
  organizer_id: string;
  organizer_name: string;
  price_cents: number;
  starts_on: string;
  seats: number;
  booked: number;
  created_by: string | null;
  updated_at: string;
}

const SELECT_TRIP = `
  SELECT t.*, o.name AS organizer_name, COALESCE((SELECT SUM(b.seats) FROM bookings b WHERE b.trip_id = t.id), 0) AS booked
  FROM trips t JOIN organizers o ON o.id = t.organizer_id`;

const toTrip = (r: TripRow): Trip => ({
  id: r.id,
  title: r.title,
  destination: r.destination,
  organizer: { id: r.organizer_id, name: r.organizer_name },
  priceCents: r.price_cents,
  startsOn: r.starts_on,
  seats: r.seats,
  seatsLeft: r.seats - r.booked,
  createdBy: r.created_by,
  updatedAt: r.updated_at,
});

@Injectable()
export class TripsRepository {
  constructor(private readonly db: DemoDatabase) {}

  async list(query: ListTripsQuery): Promise<TripPage> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (query.destination) (where.push('t.destination = ? COLLATE NOCASE'), params.push(query.destination));
    if (query.organizerId) (where.push('t.organizer_id = ?'), params.push(query.organizerId));
    if (query.maxPriceCents !== undefined) (where.push('t.price_cents <= ?'), params.push(query.maxPriceCents));
    const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
    const page = query.page ?? 1;
    const pageSize = query.pageSize ?? 10;
    const [count, rows] = await Promise.all([
      this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM trips t${filter}`, params),
      this.db.all<TripRow>(`${SELECT_TRIP}${filter} ORDER BY t.starts_on, t.id LIMIT ? OFFSET ?`, [...params, pageSize, (page - 1) * pageSize]),
    ]);
    return { items: rows.map(toTrip), page, pageSize, total: count?.n ?? 0 };
  }

  async findById(id: number): Promise<Trip | null> {
    const row = await this.db.get<TripRow>(`${SELECT_TRIP} WHERE t.id = ?`, [id]);
    return row ? toTrip(row) : null;
  }

  async create(input: CreateTripDto, userId: string): Promise<Trip> {
    const id = await this.db.transaction((tx) => {
      if (!tx.get('SELECT 1 FROM organizers WHERE id = ?', [input.organizerId])) throw new BadRequestException([`organizerId "${input.organizerId}" is not a known organizer`]);
      return tx.run(
        'INSERT INTO trips (title, destination, organizer_id, price_cents, starts_on, seats, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [input.title, input.destination, input.organizerId, input.priceCents, input.startsOn, input.seats, userId, new Date().toISOString()],
      ).lastId;
    });
    return (await this.findById(id))!;
  }

  /** Null when the trip does not exist. Seats cannot drop below what is already booked. */
  async update(id: number, changes: UpdateTripDto): Promise<boolean> {
    return this.db.transaction((tx) => {
      const current = tx.get<{ booked: number }>('SELECT COALESCE((SELECT SUM(seats) FROM bookings WHERE trip_id = ?), 0) AS booked FROM trips WHERE id = ?', [id, id]);
      if (!current) return false;
      if (changes.seats !== undefined && changes.seats < current.booked) throw new ConflictException(`seats cannot be below the ${current.booked} already booked`);
      const columns: Array<[string, SqlValue | undefined]> = [
        ['title', changes.title],
        ['destination', changes.destination],
        ['price_cents', changes.priceCents],
        ['starts_on', changes.startsOn],
        ['seats', changes.seats],
      ];
      const set = columns.filter(([, v]) => v !== undefined);
      tx.run(`UPDATE trips SET ${[...set.map(([c]) => `${c} = ?`), 'updated_at = ?'].join(', ')} WHERE id = ?`, [...set.map(([, v]) => v!), new Date().toISOString(), id]);
      return true;
    });
  }

  async delete(id: number): Promise<boolean> {
    return this.db.transaction((tx) => tx.run('DELETE FROM trips WHERE id = ?', [id]).changes > 0);
  }

  async ownerOf(id: number): Promise<{ createdBy: string | null } | null> {
    const row = await this.db.get<{ created_by: string | null }>('SELECT created_by FROM trips WHERE id = ?', [id]);
    return row ? { createdBy: row.created_by } : null;
  }

  /** Null when the trip does not exist; 409 when fewer seats are left than asked for. */
  async book(tripId: number, userId: string, seats: number): Promise<Booking | null> {
    return this.db.transaction((tx) => {
      const trip = tx.get<{ seats: number; organizer_id: string; created_by: string | null; booked: number }>(
        'SELECT seats, organizer_id, created_by, COALESCE((SELECT SUM(seats) FROM bookings WHERE trip_id = trips.id), 0) AS booked FROM trips WHERE id = ?',
        [tripId],
      );
      if (!trip) return null;
      const left = trip.seats - trip.booked;
      if (seats > left) throw new ConflictException(`only ${left} seat(s) left on trip ${tripId}`);
      const createdAt = new Date().toISOString();
      const { lastId } = tx.run('INSERT INTO bookings (trip_id, user_id, seats, created_at) VALUES (?, ?, ?, ?)', [tripId, userId, seats, createdAt]);
      return { id: lastId, tripId, userId, seats, createdAt, organizerId: trip.organizer_id, createdBy: trip.created_by };
    });
  }

  /** Seats booked per organizer: the leaderboard's source of truth. */
  bookedByOrganizer(): Promise<Array<{ organizer_id: string; seats: number }>> {
    return this.db.all('SELECT t.organizer_id, SUM(b.seats) AS seats FROM bookings b JOIN trips t ON t.id = b.trip_id GROUP BY t.organizer_id');
  }

  organizers(): Promise<Array<{ id: string; name: string }>> {
    return this.db.all('SELECT id, name FROM organizers ORDER BY id');
  }
}
