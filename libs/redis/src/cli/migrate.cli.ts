import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { redisOptionsFromEnv } from '../config/redis-env.loader.js';
import { RedisConnection } from '../connection/redis.connection.js';
import { resolveRedisOptions } from '../redis.options.js';
import { MigrationAbortedError } from '../collections/collections.errors.js';
import { RedisCollections } from '../collections/collections.service.js';
import type { RedisMap } from '../collections/map.collection.js';
import { migrateMap, type MigrateMapOptions, type MigrationProgress, type MigrationReport, type MigrationSource } from '../collections/map.migration.js';

/**
 * `nestjs-redis-kit migrate <module-file> [--export name] [--dry-run] [--batch N] [--verify] ...`
 *
 * The module's export (default: `default`) is a function called with `{ collections }` that returns
 * `{ source, target, options? }`: the Map (or iterable) to move and the `RedisMap` to move it into.
 * Redis comes from the usual `REDIS_*` variables. Exit codes: 0 done, 1 error, 2 verification found
 * differences, 130 interrupted (Ctrl-C stops at a checkpoint; run again to resume).
 */
export interface MigrationModuleResult {
  source: MigrationSource;
  target: RedisMap<unknown>;
  options?: MigrateMapOptions;
}
export type MigrationModuleExport = (context: { collections: RedisCollections }) => MigrationModuleResult | Promise<MigrationModuleResult>;

const COMMAND_TIMEOUT_MS = 10_000;

const USAGE = `usage: nestjs-redis-kit migrate <module-file> [--export name] [--dry-run] [--batch N] [--concurrency N]
                                [--verify] [--sample N] [--overwrite] [--restart] [--id name] [--json]`;

export interface CliIo {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export async function runCli(argv: readonly string[], io: CliIo = { out: process.stdout, err: process.stderr, env: process.env }): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (error) {
    io.err.write(`${(error as Error).message}\n${USAGE}\n`);
    return 1;
  }
  const [command, file] = args.positionals;
  if (command !== 'migrate' || !file) {
    io.err.write(`${USAGE}\n`);
    return command === undefined || args.values.help ? 0 : 1;
  }

  let connection: RedisConnection | undefined;
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bar = new ProgressBar(io.out);
  try {
    const exported = await loadExport(file, args.values.export ?? 'default');
    // A batch tool on a busy Redis: a long deadline, and no fallback (a migration into memory is no migration).
    connection = new RedisConnection(resolveRedisOptions({ ...redisOptionsFromEnv(io.env), fallback: 'none', commandTimeoutMs: COMMAND_TIMEOUT_MS }));
    await connection.onModuleInit();
    if (connection.status() !== 'connected') throw new Error(`Redis is not reachable (status ${connection.status()}): check REDIS_URL / REDIS_HOST`);
    const { source, target, options = {} } = await exported({ collections: new RedisCollections(connection.engine) });
    const report = await migrateMap(source, target, {
      ...options,
      ...(args.values['dry-run'] ? { dryRun: true } : {}),
      ...(args.values.batch ? { batchSize: int(args.values.batch, '--batch') } : {}),
      ...(args.values.concurrency ? { concurrency: int(args.values.concurrency, '--concurrency') } : {}),
      ...(args.values.overwrite ? { overwrite: true } : {}),
      ...(args.values.restart ? { restart: true } : {}),
      ...(args.values.id ? { id: args.values.id } : {}),
      verify: args.values.verify ? { sample: args.values.sample ? int(args.values.sample, '--sample') : 100 } : (options.verify ?? false),
      signal: abort.signal,
      onProgress: async (p) => {
        bar.update(p);
        await options.onProgress?.(p);
      },
    });
    bar.done();
    io.out.write(args.values.json ? `${JSON.stringify(report)}\n` : summary(report, target.name));
    return report.verification && !report.verification.ok ? 2 : 0;
  } catch (error) {
    bar.done();
    if (error instanceof MigrationAbortedError) {
      io.err.write(`${error.message} (${describe(error.cause)})\n`);
      return abort.signal.aborted ? 130 : 1;
    }
    io.err.write(`migrate failed: ${describe(error)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await closeWithin(connection, 5_000);
  }
}

/**
 * Closing a client that never connected settles only through an unref'd timer: with nothing else
 * keeping the process alive, the command would end before reporting its exit code. A ref'd timer
 * bounds the wait and keeps the loop alive meanwhile.
 */
async function closeWithin(connection: RedisConnection | undefined, ms: number): Promise<void> {
  if (!connection) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([connection.onApplicationShutdown().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      export: { type: 'string' },
      'dry-run': { type: 'boolean' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      verify: { type: 'boolean' },
      sample: { type: 'string' },
      overwrite: { type: 'boolean' },
      restart: { type: 'boolean' },
      id: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

async function loadExport(file: string, name: string): Promise<MigrationModuleExport> {
  const module = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  const exported = module[name];
  if (typeof exported !== 'function') throw new Error(`${file} has no function export ${JSON.stringify(name)} (exports: ${Object.keys(module).join(', ') || 'none'})`);
  return exported as MigrationModuleExport;
}

function int(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${what} must be a positive integer (got ${JSON.stringify(text)})`);
  return n;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function summary(r: MigrationReport, name: string): string {
  const lines = [
    `${r.dryRun ? 'dry run: would write' : 'wrote'} ${r.written} entries into map ${JSON.stringify(name)}, kept ${r.kept} existing, skipped ${r.resumedFrom} done earlier`,
    `${r.processed} entries read in ${r.batches} batches, ${r.durationMs} ms (${r.entriesPerSecond} entries/s)`,
  ];
  const v = r.verification;
  if (v) {
    lines.push(`verification ${v.ok ? 'ok' : 'FAILED'}: source ${v.sourceCount}, target ${v.targetCount}, ${v.sampled} sampled, ${v.missing.length} missing, ${v.different.length} different`);
    if (v.missing.length) lines.push(`  missing: ${v.missing.slice(0, 10).join(', ')}`);
    if (v.different.length) lines.push(`  different: ${v.different.slice(0, 10).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** One `\r`-redrawn line on a TTY; elsewhere (CI logs, pipes) a plain line at most once a second. */
class ProgressBar {
  private lastLine = 0;
  private drawn = false;
  constructor(private readonly out: CliIo['out']) {}

  update(p: MigrationProgress): void {
    const now = Date.now();
    if (this.out.isTTY) {
      const width = 30;
      const ratio = p.total ? Math.min(1, p.processed / p.total) : 0;
      const filled = Math.round(ratio * width);
      const bar = p.total ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}% ` : '';
      this.out.write(`\r${bar}${p.processed}${p.total ? `/${p.total}` : ''} read, ${p.written} written, ${p.kept} kept`);
      this.drawn = true;
    } else if (now - this.lastLine >= 1_000) {
      this.lastLine = now;
      this.out.write(`progress: ${p.processed}${p.total ? `/${p.total}` : ''} read, ${p.written} written, ${p.kept} kept, ${p.batches} batches\n`);
    }
  }

  done(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
