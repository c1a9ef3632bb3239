// Runs before `npm start` and `npm test`, so the two Quick-start commands work on a fresh clone:
// installs the workspace when node_modules is missing or older than the lock file.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.log('Installing dependencies (npm install)...');
  // Not `npm ci`: the lock file lacks optional builds of jest's resolver for other platforms (the
  // registry here has none), which `npm ci` rejects as out of sync.
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
