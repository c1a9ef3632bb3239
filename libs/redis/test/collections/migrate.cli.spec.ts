import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { compileFixture, REPO_ROOT, startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';
import { Redis } from 'ioredis';
import { runCli } from '../../src/cli/migrate.cli.js';
import { RedisCollections } from '../../src/collections/collections.service.js';
import { RedisEngine } from '../../src/engine/redis.engine.js';

const MODULE = fileURLToPath(new URL('./fixtures/bookings.migration.mjs', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The `nestjs-redis-kit` command as a child process against real Redis, configured by REDIS_* only. */
describe('nestjs-redis-kit migrate (CLI, child process)', () => {
  let server: RedisProcess;
  let entry: string;
  let client: Redis;
  let collections: RedisCollections;

  const cli = (args: string[], env: Record<string, string>, onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void) =>
    new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [entry, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, REDIS_URL: server.url, REDIS_KEY_PREFIX: 'cli:', ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        onStdout?.(stdout, (s) => child.kill(s));
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  const lastJson = (text: string) => JSON.parse(text.trim().split('\n').at(-1)!) as Record<string, any>;

  beforeAll(async () => {
    entry = compileFixture(new URL('./fixtures/migrate-cli.ts', import.meta.url), 'collections-cli');
    server = await startRedis();
    client = new Redis(server.url);
    collections = new RedisCollections(new RedisEngine(client, { keyPrefix: 'cli:' }));
    // tsc compiles the library behind the command first: slow on a busy machine.
  }, 240_000);
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('--dry-run reports what it would write and writes nothing', async () => {
    const run = await cli(['migrate', MODULE, '--dry-run', '--json'], { MIGRATION_ENTRIES: '5000', MIGRATION_TENANT: 'dry' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(lastJson(run.stdout)).toMatchObject({ dryRun: true, processed: 5000, written: 5000, kept: 0 });
    expect(await client.dbsize()).toBe(0);
  });

  it('a run killed halfway (SIGKILL) resumes from its checkpoint and finishes verified, with a readable summary', async () => {
    const env = { MIGRATION_ENTRIES: '300000', MIGRATION_TENANT: 'org-kill' };
    // Non-TTY progress is one line a second: kill after the second one.
    const killed = await cli(['migrate', MODULE, '--batch', '100', '--concurrency', '1'], env, (out, kill) => {
      if (out.split('\n').filter((l) => l.startsWith('progress:')).length >= 2) kill('SIGKILL');
    });
    expect(killed.signal).toBe('SIGKILL');
    const target = collections.map('bookings', { tenant: 'org-kill' });
    const partial = await target.size();
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(300_000);

    const rerun = await cli(['migrate', MODULE, '--verify', '--sample', '300', '--json'], env);
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    const report = lastJson(rerun.stdout);
    expect(report.resumedFrom).toBeGreaterThan(0);
    expect(report.resumedFrom).toBeLessThanOrEqual(partial);
    expect(partial + report.written).toBe(300_000);
    expect(report.verification).toMatchObject({ ok: true, sourceCount: 300_000, targetCount: 300_000, missing: [], different: [] });
    expect(await target.get('booking:299999')).toEqual({ id: 299999, seats: 5, at: new Date(1_700_000_000_000 + 299999) });

    const human = await cli(['migrate', MODULE, '--verify'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/wrote 0 entries into map "bookings", kept 0 existing, skipped 300000 done earlier/);
    expect(human.stdout).toMatch(/verification ok: source 300000, target 300000, 100 sampled, 0 missing, 0 different/);
  });

  it('SIGINT stops at a checkpoint with exit code 130 and says how to resume', async () => {
    const env = { MIGRATION_ENTRIES: '300000', MIGRATION_TENANT: 'org-int' };
    const run = await cli(['migrate', MODULE, '--batch', '100', '--concurrency', '1'], env, (out, kill) => {
      if (out.includes('progress:')) kill('SIGINT');
    });
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/migration stopped after \d+ entries; run it again to resume \(interrupted\)/);
    const done = Number(/stopped after (\d+)/.exec(run.stderr)![1]);
    await waitUntil(async () => (await collections.map('bookings', { tenant: 'org-int' }).size()) >= done, { timeoutMs: 5_000, what: 'the checkpointed entries in Redis' });
  });

  it('on a TTY the progress is one bar redrawn with \\r', async () => {
    let out = '';
    let err = '';
    // In process: the migration module reads these from process.env, Redis comes from `env` below.
    Object.assign(process.env, { MIGRATION_ENTRIES: '5000', MIGRATION_TENANT: 'tty' });
    const tty = { isTTY: true, write: (chunk: string) => ((out += chunk), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean };
    const code = await runCli(['migrate', MODULE, '--batch', '500'], {
      out: tty,
      err: { write: (chunk: string) => ((err += chunk), true) } as unknown as NodeJS.WritableStream,
      env: { REDIS_URL: server.url, REDIS_KEY_PREFIX: 'cli:' },
    }).finally(() => {
      delete process.env.MIGRATION_ENTRIES;
      delete process.env.MIGRATION_TENANT;
    });
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/\r\[#{30}\] 100% 5000\/5000 read, 5000 written, 0 kept\n/);
    expect(out.split('\r').length).toBeGreaterThan(5);
    expect(out).toMatch(/wrote 5000 entries into map "bookings"/);
  });

  it('a missing export, a bad flag or an unreachable Redis fail with one clear message', async () => {
    const noExport = await cli(['migrate', MODULE, '--export', 'nothing'], {});
    expect(noExport.code).toBe(1);
    expect(noExport.stderr).toMatch(/has no function export "nothing" \(exports: default, notAFunction\)/);
    const badFlag = await cli(['migrate', MODULE, '--batch', 'lots'], {});
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/--batch must be a positive integer/);
    const down = await cli(['migrate', MODULE], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/Redis is not reachable|migrate failed/);
  });
});
