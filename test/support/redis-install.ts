import { spawnSync } from 'node:child_process';

/** How to launch a Sentinel: Debian ships `redis-sentinel`, other builds only `redis-server --sentinel`. */
export interface SentinelLauncher {
  readonly binary: string;
  /** Appended after the config file path (`redis-server <conf> --sentinel`). */
  readonly modeArgs: readonly string[];
}

const INSTALL_HINT = 'sudo apt-get install -y redis-server redis-sentinel';

let checked: SentinelLauncher | undefined;

function runs(binary: string, args: readonly string[]): boolean {
  const result = spawnSync(binary, [...args], { stdio: 'ignore', timeout: 10_000 });
  return result.error === undefined && result.status === 0;
}

function findMissing(): { missing: string[]; sentinel: SentinelLauncher | undefined } {
  const missing: string[] = [];
  if (!runs('redis-server', ['--version'])) missing.push('redis-server');
  if (!runs('redis-cli', ['--version'])) missing.push('redis-cli');
  let sentinel: SentinelLauncher | undefined;
  if (runs('redis-sentinel', ['--version'])) {
    sentinel = { binary: 'redis-sentinel', modeArgs: [] };
  } else if (!missing.includes('redis-server')) {
    // `--version` exits before the mode switch is looked at, so it cannot prove `--sentinel` works;
    // without a config file a sentinel-capable build refuses with a specific message and exits.
    const probe = spawnSync('redis-server', ['--sentinel', '--port', '0'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    if (/Sentinel needs config file/i.test(`${probe.stdout ?? ''}${probe.stderr ?? ''}`)) {
      sentinel = { binary: 'redis-server', modeArgs: ['--sentinel'] };
    }
  }
  if (sentinel === undefined) missing.push('redis-sentinel');
  return { missing, sentinel };
}

function aptInstall(): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env, timeout: 300_000 });
  if (update.error !== undefined || update.status !== 0) {
    throw new Error(`apt-get update failed (${update.error?.message ?? `exit ${update.status}`}); install Redis with: ${INSTALL_HINT}`);
  }
  // redis-cli lives in redis-tools; redis-server depends on it, but naming it keeps the intent explicit.
  const install = spawnSync('apt-get', ['install', '-y', 'redis-server', 'redis-sentinel', 'redis-tools'], {
    stdio: 'inherit',
    env,
    timeout: 600_000,
  });
  if (install.error !== undefined || install.status !== 0) {
    throw new Error(
      `apt-get install of redis-server/redis-sentinel failed (${install.error?.message ?? `exit ${install.status}`}); install them with: ${INSTALL_HINT}`,
    );
  }
}

/**
 * Makes sure the Redis binaries the harness spawns are on PATH. Tests are never skipped when Redis is
 * absent (see DESIGN.md): as root we install Debian's packages, otherwise we stop with the command to run.
 */
export function ensureRedisBinaries(): SentinelLauncher {
  if (checked !== undefined) return checked;
  let { missing, sentinel } = findMissing();
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        `Redis binaries not found on PATH: ${missing.join(', ')}. The tests need a real Redis 7; install it with:\n  ${INSTALL_HINT}`,
      );
    }
    aptInstall();
    ({ missing, sentinel } = findMissing());
    if (missing.length > 0 || sentinel === undefined) {
      throw new Error(`Still missing after apt-get install: ${missing.join(', ')}. Install them with: ${INSTALL_HINT}`);
    }
  }
  checked = sentinel!;
  return checked;
}
