import type { SqlValue } from 'sql.js';
import { hashPassword } from '../auth/auth.password.js';

export const SCHEMA = [
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     email TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
     password_hash TEXT NOT NULL)`,
  `CREATE TABLE organizers (id TEXT PRIMARY KEY, name TEXT NOT NULL)`,
  `CREATE TABLE trips (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     title TEXT NOT NULL,
     destination TEXT NOT NULL,
     organizer_id TEXT NOT NULL REFERENCES organizers (id),
     price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
     starts_on TEXT NOT NULL,
     seats INTEGER NOT NULL CHECK (seats >= 0),
     created_by TEXT REFERENCES users (id),
     updated_at TEXT NOT NULL)`,
  `CREATE TABLE bookings (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     trip_id INTEGER NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
     user_id TEXT NOT NULL REFERENCES users (id),
     seats INTEGER NOT NULL CHECK (seats > 0),
     created_at TEXT NOT NULL)`,
  `CREATE INDEX trips_destination ON trips (destination)`,
  `CREATE INDEX bookings_trip ON bookings (trip_id)`,
];

/** Demo accounts; the README lists them. Everyone shares one password, it is a demo. */
export const DEMO_PASSWORD = 'demo-password';
export const SEED_USERS = [
  { id: 'alice', email: 'alice@example.com', name: 'Alice', role: 'admin' },
  { id: 'bob', email: 'bob@example.com', name: 'Bob', role: 'member' },
  { id: 'carol', email: 'carol@example.com', name: 'Carol', role: 'member' },
  { id: 'dave', email: 'dave@example.com', name: 'Dave', role: 'member' },
] as const;

const ORGANIZERS = [
  ['alpine', 'Alpine Trails'],
  ['coast', 'Coastal Escapes'],
  ['city', 'City Breaks'],
  ['desert', 'Desert Nomads'],
] as const;

const DESTINATIONS = ['Lisbon', 'Chamonix', 'Marrakesh', 'Kyoto', 'Reykjavik', 'Split'] as const;
const KINDS = ['Weekend in', 'Hiking around', 'Food tour of', 'A week in'] as const;

/** Rows to insert, deterministic apart from the password salts, so every fresh start looks alike. */
export async function seed(): Promise<Array<[string, SqlValue[]]>> {
  const rows: Array<[string, SqlValue[]]> = [];
  for (const u of SEED_USERS) {
    // Hashed one by one: each gets its own salt, so equal passwords do not give equal hashes.
    rows.push(['INSERT INTO users (id, email, name, role, password_hash) VALUES (?, ?, ?, ?, ?)', [u.id, u.email, u.name, u.role, await hashPassword(DEMO_PASSWORD)]]);
  }
  for (const [id, name] of ORGANIZERS) rows.push(['INSERT INTO organizers (id, name) VALUES (?, ?)', [id, name]]);
  const updatedAt = '2026-01-01T00:00:00.000Z';
  let tripId = 0;
  for (let i = 0; i < 24; i++) {
    const destination = DESTINATIONS[i % DESTINATIONS.length]!;
    const kind = KINDS[Math.floor(i / DESTINATIONS.length) % KINDS.length]!;
    const organizer = ORGANIZERS[i % ORGANIZERS.length]![0];
    const price = 19_900 + ((i * 7_919) % 90_000);
    const month = String((i % 12) + 1).padStart(2, '0');
    rows.push([
      'INSERT INTO trips (title, destination, organizer_id, price_cents, starts_on, seats, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [`${kind} ${destination}`, destination, organizer, price, `2026-${month}-15`, 8 + (i % 5) * 4, 'alice', updatedAt],
    ]);
    tripId++;
  }
  // A few bookings so the leaderboard and recommendations have something to start from.
  for (let i = 0; i < 18; i++) {
    const user = SEED_USERS[1 + (i % 3)]!.id;
    rows.push(['INSERT INTO bookings (trip_id, user_id, seats, created_at) VALUES (?, ?, ?, ?)', [1 + ((i * 5) % tripId), user, 1 + (i % 2), updatedAt]]);
  }
  return rows;
}
