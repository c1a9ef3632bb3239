// tsc only emits what it compiles; the engine loads its Lua scripts from files next to the built
// JavaScript, so the build copies them over keeping their relative paths.
// Usage: node scripts/copy-lua.mjs <srcDir> <outDir>
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const [srcArg, outArg] = process.argv.slice(2);
if (!srcArg || !outArg) {
  console.error('usage: node scripts/copy-lua.mjs <srcDir> <outDir>');
  process.exit(2);
}
const srcDir = resolve(srcArg);
const outDir = resolve(outArg);
if (!statSync(srcDir, { throwIfNoEntry: false })?.isDirectory()) {
  console.error(`copy-lua: ${srcArg} is not a directory`);
  process.exit(2);
}

const skip = new Set(['node_modules', 'dist']);
let copied = 0;
for (const entry of readdirSync(srcDir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.lua')) continue;
  const from = join(entry.parentPath, entry.name);
  const rel = relative(srcDir, from);
  if (rel.split(/[\\/]/).some((part) => skip.has(part))) continue;
  const to = join(outDir, rel);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied += 1;
}
console.log(`copy-lua: ${copied} Lua script(s) copied from ${srcArg} to ${outArg}`);
