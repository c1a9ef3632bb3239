import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';

import { freePort } from './free-port.js';
import { removeTrackedDir, trackDir, trackProcess } from './process-registry.js';
import { ensureRedisBinaries } from './redis-install.js';
import { waitUntil } from './wait-until.js';

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface RedisProcess {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `redis://127.0.0.1:port`, with `:password@` when the server requires one. */
  readonly url: string;
  /** Own temp dir (config, nodes.conf, logs); kept across restarts, removed by `destroy()`. */
  readonly dir: string;
  readonly password: string | undefined;
  readonly running: boolean;
  /** True between `pause()` and `resume()`: the process exists but answers nothing. */
  readonly paused: boolean;
  /** (Re)starts on the same port, dir and config; resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM; resolves when the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL (no graceful shutdown); resolves when the process has exited. */
  kill(): Promise<void>;
  /** SIGSTOP: the socket stays open but nothing is answered, like a hung server. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Runs one command on a short-lived connection (default timeout 5 s), for assertions. */
  command(...args: (string | number)[]): Promise<unknown>;
  /** SIGKILL if running, then removes the temp dir. The handle is unusable afterwards. */
  destroy(): Promise<void>;
  /** Last lines of the server log and of its stdout/stderr, for failure messages. */
  logTail(lines?: number): string;
}

export interface StartRedisOptions {
  password?: string;
  /** Appended last, so they override the harness defaults. */
  extraArgs?: string[];
  replicaOf?: RedisEndpoint;
  cluster?: boolean;
  /** Only with `cluster`; default 1000. */
  clusterNodeTimeoutMs?: number;
  /** A fixed port; by default a free one is picked (and re-picked if another process grabs it first). */
  port?: number;
  /** How long `start()` waits for PING; default 10 s. */
  startTimeoutMs?: number;
}

/** Lower-level launch description, used by the sentinel harness to run `redis-sentinel <conf>`. */
export interface RedisLaunchSpec {
  readonly binary: string;
  readonly args: readonly string[];
  readonly port: number;
  readonly dir: string;
  readonly password?: string | undefined;
  readonly startTimeoutMs?: number | undefined;
}

export const LOOPBACK = '127.0.0.1';
export const LOG_FILE = 'redis.log';
const STDIO_FILE = 'stdio.log';

export class RedisStartError extends Error {
  constructor(
    message: string,
    /** The port was taken between picking it and binding it: retrying on another port is safe. */
    readonly addressInUse: boolean,
  ) {
    super(message);
    this.name = 'RedisStartError';
  }
}

/** Makes a per-server temp dir that is removed even if the test process dies. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  trackDir(dir);
  return dir;
}

/**
 * One command on a throwaway ioredis connection. RESP2 and no client-info handshake keep replies in
 * their classic shapes and work the same against Redis and Sentinel; no retries, so a dead or paused
 * server fails fast instead of being hidden by reconnect logic.
 */
export async function redisCommand(
  endpoint: RedisEndpoint & { readonly password?: string | undefined; readonly username?: string | undefined; readonly tls?: ConnectionOptions | undefined },
  args: readonly (string | number)[],
  timeoutMs = 5_000,
): Promise<unknown> {
  const [name, ...rest] = args;
  if (name === undefined) throw new Error('redisCommand: no command given');
  const client = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
    ...(endpoint.tls !== undefined ? { tls: endpoint.tls } : {}),
    protocol: 2,
    lazyConnect: true,
    disableClientInfo: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  // Errors are reported through the rejected promise; the event would only add noise.
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(String(name), ...rest.map(String));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${endpoint.host}:${endpoint.port} ${String(name)}: ${message}`, { cause: error });
  } finally {
    client.disconnect();
  }
}

/**
 * Readiness probe on a raw socket: ioredis would queue and retry, and a fresh client per 25 ms poll
 * would be heavy. `-LOADING`/`-NOAUTH` or no answer all mean "not ready yet". The pid check matters
 * when restarting on a fixed port: while ours was down another jest worker may have picked that port,
 * and its server's PONG must not pass for ours (ours will then exit with "Address already in use").
 */
function probeReady(port: number, pid: number, password: string | undefined, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    let received = '';
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const ours = `process_id:${pid}\r\n`;
    socket.setEncoding('utf8');
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
    socket.once('connect', () => {
      const auth = password !== undefined ? encodeCommand(['AUTH', password]) : '';
      socket.write(auth + encodeCommand(['PING']) + encodeCommand(['INFO', 'server']));
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      // Error replies start a line with '-'; INFO fields never do.
      if (/(^|\r\n)-/.test(received)) finish(false);
      else if (received.includes('+PONG\r\n') && received.includes('process_id:')) {
        if (received.includes(ours)) finish(true);
        // Another server answers on this port; keep polling until ours exits or the deadline passes.
        else if (/process_id:\d+\r\n/.test(received)) finish(false);
      }
    });
  });
}

function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

function tailOf(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').trimEnd();
  return text === '' ? '' : text.split('\n').slice(-lines).join('\n');
}

class ManagedRedis implements RedisProcess {
  readonly host = LOOPBACK;
  readonly port: number;
  readonly dir: string;
  readonly password: string | undefined;
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private isPaused = false;
  private starting: Promise<void> | undefined;
  private destroyed = false;

  constructor(private readonly spec: RedisLaunchSpec) {
    this.port = spec.port;
    this.dir = spec.dir;
    this.password = spec.password;
    const auth = spec.password !== undefined ? `:${encodeURIComponent(spec.password)}@` : '';
    this.url = `redis://${auth}${LOOPBACK}:${spec.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  logTail(lines = 30): string {
    const log = tailOf(join(this.dir, LOG_FILE), lines);
    const stdio = tailOf(join(this.dir, STDIO_FILE), lines);
    return [log && `--- ${LOG_FILE}\n${log}`, stdio && `--- stdout/stderr\n${stdio}`].filter(Boolean).join('\n') || '(no log output)';
  }

  start(): Promise<void> {
    if (this.destroyed) return Promise.reject(new Error(`redis on port ${this.port} was destroyed`));
    if (this.running) return this.starting ?? Promise.resolve();
    this.starting = this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async launch(): Promise<void> {
    const output = openSync(join(this.dir, STDIO_FILE), 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.spec.binary, [...this.spec.args], { cwd: this.dir, stdio: ['ignore', output, output] });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(output);
    }
    this.child = child;
    this.isPaused = false;
    trackProcess(child);
    let exitInfo: string | undefined;
    let spawnError: Error | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal !== null ? `signal ${signal}` : `code ${code}`;
        if (this.child === child) {
          this.child = undefined;
          this.isPaused = false;
        }
        resolve();
      });
      child.once('error', (error) => {
        spawnError = error;
        // 'exit' is not emitted when the binary could not be spawned at all.
        if (child.pid === undefined) {
          if (this.child === child) this.child = undefined;
          resolve();
        }
      });
    });

    const timeoutMs = this.spec.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child !== child) {
        const log = this.logTail();
        const why = spawnError !== undefined ? spawnError.message : `exited with ${exitInfo ?? 'unknown status'}`;
        throw new RedisStartError(
          `${this.spec.binary} on port ${this.port} ${why} before answering PING\n${log}`,
          /Address already in use/i.test(log),
        );
      }
      if (child.pid !== undefined && (await probeReady(this.port, child.pid, this.password, 500))) return;
      await sleep(25);
    }
    const log = this.logTail();
    await this.kill();
    throw new RedisStartError(`${this.spec.binary} on port ${this.port} did not answer PING within ${timeoutMs} ms\n${log}`, false);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    // A stopped process only acts on SIGTERM once it runs again.
    if (this.isPaused) child.kill('SIGCONT');
    if (await this.waitForExit(10_000)) return;
    child.kill('SIGKILL');
    if (!(await this.waitForExit(5_000))) throw new Error(`redis on port ${this.port} survived SIGTERM and SIGKILL`);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    if (!(await this.waitForExit(5_000))) throw new Error(`redis on port ${this.port} survived SIGKILL for 5 s`);
  }

  private async waitForExit(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.exited.then(() => true as const), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  pause(): void {
    if (this.child === undefined) throw new Error(`cannot pause redis on port ${this.port}: not running`);
    this.child.kill('SIGSTOP');
    this.isPaused = true;
  }

  resume(): void {
    if (this.child === undefined) throw new Error(`cannot resume redis on port ${this.port}: not running`);
    this.child.kill('SIGCONT');
    this.isPaused = false;
  }

  command(...args: (string | number)[]): Promise<unknown> {
    return redisCommand(this, args);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.kill();
    this.destroyed = true;
    removeTrackedDir(this.dir);
  }
}

/** Wraps a launch spec in a handle and starts it. The caller owns `spec.dir` (see `makeTempDir`). */
export async function startRedisProcess(spec: RedisLaunchSpec): Promise<RedisProcess> {
  ensureRedisBinaries();
  const redis = new ManagedRedis(spec);
  await redis.start();
  return redis;
}

/** Creates the handle without starting it, for callers that start several processes in parallel. */
export function createRedisProcess(spec: RedisLaunchSpec): RedisProcess {
  return new ManagedRedis(spec);
}

function serverArgs(port: number, dir: string, opts: StartRedisOptions): string[] {
  const args = [
    '--port', String(port),
    '--bind', LOOPBACK,
    '--dir', dir,
    '--logfile', join(dir, LOG_FILE),
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', 'no',
    // Redis 7 waits 5 s before a diskless full sync to batch replicas; tests want replicas in sync now.
    '--repl-diskless-sync-delay', '0',
    // Lets fault tests simulate a slow server with DEBUG SLEEP, from loopback only.
    '--enable-debug-command', 'local',
  ];
  if (opts.password !== undefined) {
    // masterauth too, so a replica started with the same password can sync from its master.
    args.push('--requirepass', opts.password, '--masterauth', opts.password);
  }
  if (opts.replicaOf !== undefined) args.push('--replicaof', opts.replicaOf.host, String(opts.replicaOf.port));
  if (opts.cluster === true) {
    args.push(
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(opts.clusterNodeTimeoutMs ?? 1_000),
      // 0 = a replica may always fail over, however long its link was down: fast, deterministic failover.
      '--cluster-replica-validity-factor', '0',
    );
  }
  return [...args, ...(opts.extraArgs ?? [])];
}

/** Starts a `redis-server` on loopback in its own temp dir; resolves once it answers PING. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisProcess> {
  ensureRedisBinaries();
  const dir = makeTempDir(opts.cluster === true ? 'redis-cluster-node' : 'redis-server');
  const attempts = opts.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const redis = new ManagedRedis({
      binary: 'redis-server',
      args: serverArgs(port, dir, opts),
      port,
      dir,
      password: opts.password,
      startTimeoutMs: opts.startTimeoutMs,
    });
    try {
      await redis.start();
      return redis;
    } catch (error) {
      if (!(error instanceof RedisStartError && error.addressInUse && attempt < attempts)) {
        removeTrackedDir(dir);
        throw error;
      }
    }
  }
}

/** Parses `INFO` output into a map; sections are flattened because field names are unique. */
export function parseInfo(info: unknown): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of String(info).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** Waits until a replica has finished its initial sync with its master. */
export async function waitForReplicaSync(replica: RedisProcess, timeoutMs = 10_000): Promise<void> {
  await waitUntil(
    async () => {
      const info = parseInfo(await redisCommand(replica, ['INFO', 'replication'], 1_000));
      const link = info.get('master_link_status');
      const syncing = info.get('master_sync_in_progress');
      if (link === 'up' && syncing === '0') return true;
      throw new Error(`master_link_status=${link ?? '?'} master_sync_in_progress=${syncing ?? '?'}`);
    },
    { timeoutMs, intervalMs: 50, what: `replica on port ${replica.port} to sync with its master` },
  );
}
