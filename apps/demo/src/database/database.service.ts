import { mkdirSync, renameSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import initSqlJs from 'sql.js';
import type { Database, SqlValue } from 'sql.js';
import { SCHEMA, seed } from './database.seed.js';

export type Params = readonly SqlValue[];

/** Synchronous access inside a transaction: nothing else can run between its statements. */
export interface Tx {
  all<T>(sql: string, params?: Params): T[];
  get<T>(sql: string, params?: Params): T | undefined;
  run(sql: string, params?: Params): { changes: number; lastId: number };
}

export interface DemoDatabaseOptions {
  /** A file, or `:memory:` for a database that lives and dies with the process. */
  path: string;
  /** Added before every query, so the cache's effect is visible against a "remote" database. */
  latencyMs: number;
}

/**
 * The demo's SQLite database (sql.js: SQLite compiled to WebAssembly, no native build). sql.js keeps
 * the database in memory; after each committed write the file is rewritten atomically (temp file +
 * rename), so a crash leaves the previous or the new state, never a torn file.
 *
 * Every statement is synchronous: a transaction's statements, BEGIN to COMMIT, run in one turn of
 * the event loop, so two requests can never interleave inside one and a failure rolls it back whole.
 */
export class DemoDatabase implements OnApplicationShutdown {
  private readonly logger = new Logger('DemoDatabase');
  private closed = false;

  private constructor(
    private readonly db: Database,
    readonly options: DemoDatabaseOptions,
  ) {
    db.run('PRAGMA foreign_keys = ON');
  }

  static async open(options: DemoDatabaseOptions): Promise<DemoDatabase> {
    const SQL = await initSqlJs();
    const onDisk = options.path !== ':memory:';
    const existing = onDisk && existsSync(options.path) ? readFileSync(options.path) : undefined;
    const database = new DemoDatabase(existing ? new SQL.Database(existing) : new SQL.Database(), options);
    if (!existing) {
      // Seeding is one transaction: an interrupted first start leaves no half-seeded file behind.
      const rows = await seed();
      database.transactionSync((tx) => {
        for (const statement of SCHEMA) tx.run(statement);
        for (const [sql, params] of rows) tx.run(sql, params);
      });
      database.logger.log(onDisk ? `Seeded a new database at ${options.path}` : 'Seeded an in-memory database');
    }
    return database;
  }

  async all<T>(sql: string, params: Params = []): Promise<T[]> {
    await this.delay();
    return this.rows<T>(sql, params);
  }

  async get<T>(sql: string, params: Params = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  /** Runs `work` in one transaction after the configured latency; a throw rolls everything back. */
  async transaction<T>(work: (tx: Tx) => T): Promise<T> {
    await this.delay();
    return this.transactionSync(work);
  }

  onApplicationShutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private transactionSync<T>(work: (tx: Tx) => T): T {
    this.assertOpen();
    const tx: Tx = {
      all: (sql, params = []) => this.rows(sql, params),
      get: (sql, params = []) => this.rows(sql, params)[0] as never,
      run: (sql, params = []) => {
        this.db.run(sql, params as SqlValue[]);
        const changes = this.db.getRowsModified();
        const lastId = Number(this.db.exec('SELECT last_insert_rowid()')[0]?.values[0]?.[0] ?? 0);
        return { changes, lastId };
      },
    };
    this.db.run('BEGIN IMMEDIATE');
    let result: T;
    try {
      result = work(tx);
      this.db.run('COMMIT');
    } catch (error) {
      this.db.run('ROLLBACK');
      throw error;
    }
    this.persist();
    return result;
  }

  private rows<T>(sql: string, params: Params): T[] {
    this.assertOpen();
    const statement = this.db.prepare(sql);
    try {
      statement.bind(params as SqlValue[]);
      const out: T[] = [];
      while (statement.step()) out.push(statement.getAsObject() as T);
      return out;
    } finally {
      statement.free();
    }
  }

  private persist(): void {
    if (this.options.path === ':memory:') return;
    const bytes = this.db.export();
    // export() reopens the database, which resets per-connection pragmas.
    this.db.run('PRAGMA foreign_keys = ON');
    mkdirSync(dirname(this.options.path), { recursive: true });
    const temp = `${this.options.path}.${process.pid}.tmp`;
    writeFileSync(temp, bytes);
    renameSync(temp, this.options.path);
  }

  private delay(): Promise<void> {
    return this.options.latencyMs > 0 ? sleep(this.options.latencyMs) : Promise.resolve();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the demo database is closed');
  }
}
