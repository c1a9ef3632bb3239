import { execFileSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, with a trailing slash: the working directory of fixture processes. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Compiles a fixture that runs as its own `node` process (an app instance, a worker) and returns
 * the path of its compiled entry. The fixture's folder holds a tsconfig.json that extends the root
 * one and emits into `.tmp/<outName>`; the library's Lua scripts are inlined (engine/lua.generated.ts),
 * and also copied next to the compiled sources for one added since the last generation. tsc still emits when unrelated files have type errors; what matters is that the entry
 * exists afterwards.
 *
 * The compiled fixture runs under plain node, which knows nothing of tsconfig `paths`: it imports
 * the library by relative path and must not import `@nestjs-redis-kit/test-support`.
 */
export function compileFixture(fixture: URL, outName: string): string {
  const source = fileURLToPath(fixture);
  const outDir = `${REPO_ROOT}.tmp/${outName}`;
  const entry = `${outDir}/${relative(REPO_ROOT, source).replace(/\.ts$/, '.js')}`;
  let failure: unknown = 'tsc emitted elsewhere: check rootDir and outDir of the fixture tsconfig.json';
  try {
    execFileSync(process.execPath, [`${REPO_ROOT}node_modules/typescript/bin/tsc`, '-p', fileURLToPath(new URL('tsconfig.json', fixture))], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (error) {
    failure = (error as { stdout?: Buffer }).stdout ?? error;
  }
  if (!existsSync(entry)) throw new Error(`the fixture ${relative(REPO_ROOT, source)} did not compile to ${entry}: ${String(failure)}`);
  cpSync(`${REPO_ROOT}libs/redis/src/engine/scripts`, `${outDir}/libs/redis/src/engine/scripts`, {
    recursive: true,
    filter: (path) => !/\.[cm]?[jt]s$/.test(path),
  });
  return entry;
}
