import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/*
 * Why two mechanisms:
 * - Outside jest (scripts, benchmarks) `process.on('exit' | 'SIGINT' | 'SIGTERM')` is enough.
 * - Inside jest, test code sees a *copy* of `process`: listeners added to it never fire when the worker
 *   exits, and a crashed or force-killed worker runs no JS at all. So every pid and temp dir is also
 *   reported to a tiny detached "reaper" process over a pipe. When our process dies by any means the
 *   kernel closes the pipe, the reaper sees EOF, SIGKILLs whatever is still registered and removes the
 *   temp dirs. The reaper and its pipe are unref'd, so they never keep jest alive.
 */
const REAPER_SOURCE = String.raw`
const fs = require('fs');
const pids = new Set();
const dirs = new Set();
let buffered = '';
function reap() {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  for (const dir of dirs) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} }
  process.exit(0);
}
// Ctrl-C reaches the whole foreground process group; the reaper must outlive its parent to clean up.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.on('SIGTERM', reap);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) !== -1) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    const op = line.slice(0, 4);
    const arg = line.slice(5);
    if (op === '+pid') pids.add(Number(arg));
    else if (op === '-pid') pids.delete(Number(arg));
    else if (op === '+dir') dirs.add(arg);
    else if (op === '-dir') dirs.delete(arg);
  }
});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
`;

const children = new Map<number, ChildProcess>();
const tempDirs = new Set<string>();
let reaper: ChildProcess | undefined;
let hooksInstalled = false;

function tellReaper(line: string): void {
  if (reaper === undefined) {
    const env = { ...process.env };
    // The parent's NODE_OPTIONS (e.g. --experimental-vm-modules, loaders) mean nothing to this script.
    delete env.NODE_OPTIONS;
    reaper = spawn(process.execPath, ['--input-type=commonjs', '-e', REAPER_SOURCE], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env,
    });
    reaper.on('error', () => {
      reaper = undefined;
    });
    reaper.stdin?.on('error', () => {});
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }
  reaper.stdin?.write(`${line}\n`);
}

/**
 * Ends the reaper once nothing is tracked: jest runs many spec files in one worker, each with its own
 * copy of this module, and an idle reaper per file would otherwise live until the worker exits.
 */
function retireReaperIfIdle(): void {
  if (reaper === undefined || children.size > 0 || tempDirs.size > 0) return;
  reaper.stdin?.end();
  reaper = undefined;
}

function killAllSync(): void {
  for (const child of children.values()) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Under jest these hooks would land on the sandbox copy of `process` (never fired), and a signal
  // listener there could still swallow the worker's real SIGINT; the reaper covers jest instead.
  if (process.env.JEST_WORKER_ID !== undefined) return;
  process.once('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllSync();
      // Our listener replaced the default "terminate" behaviour; restore it unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Registers a spawned process so it is SIGKILLed if this process exits or crashes. */
export function trackProcess(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  installHooks();
  children.set(pid, child);
  tellReaper(`+pid ${pid}`);
  child.once('exit', () => {
    children.delete(pid);
    // Forget the pid at once: after exit the kernel may reuse it for an unrelated process.
    if (reaper !== undefined) tellReaper(`-pid ${pid}`);
    retireReaperIfIdle();
  });
}

/** Registers a temp dir to be removed when this process exits or crashes. */
export function trackDir(dir: string): void {
  installHooks();
  tempDirs.add(dir);
  tellReaper(`+dir ${dir}`);
}

export function removeTrackedDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
  if (reaper !== undefined) tellReaper(`-dir ${dir}`);
  retireReaperIfIdle();
}

/** How many spawned processes are still alive; lets a spec assert that teardown left nothing behind. */
export function liveProcessCount(): number {
  return children.size;
}

/** Safety net for `afterAll`: SIGKILLs every process this module started and removes every temp dir. */
export async function killAllRedis(): Promise<void> {
  const exits = [...children.values()].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(exits);
  for (const dir of [...tempDirs]) removeTrackedDir(dir);
}
