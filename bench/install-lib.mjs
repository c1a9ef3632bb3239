// Installs nestjs-redis-kit into bench/ from its packed tarball, exactly as a user gets it. A
// `file:` link would resolve @nestjs/* from the workspace root: two copies of Nest, broken DI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = mkdtempSync(join(tmpdir(), 'nrk-pack-'));
try {
  const lib = new URL('../libs/redis/', import.meta.url).pathname;
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: lib, encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', join(out, name)], { cwd: new URL('.', import.meta.url).pathname, stdio: 'inherit' });
} finally {
  rmSync(out, { recursive: true, force: true });
}
