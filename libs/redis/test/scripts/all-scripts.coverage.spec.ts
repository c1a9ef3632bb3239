import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { ALL_SCRIPTS } from '../../src/engine/scripts/all.scripts.js';
import { SCRIPT_CASES } from './script-cases.js';

const SCRIPTS_DIR = new URL('../../src/engine/scripts/', import.meta.url);

/** Every `.lua` file under engine/scripts/ but the shared helpers of includes/, relative to it. */
function luaFiles(): string[] {
  return (readdirSync(SCRIPTS_DIR, { recursive: true }) as string[])
    .map((f) => f.split('\\').join('/'))
    .filter((f) => f.endsWith('.lua') && !f.startsWith('includes/'))
    .sort();
}

/** Where a file is defined: `const NAME = defineScript({ name: '…', version: n, file: '<file>' })` in a *.scripts.ts. */
function definitionOf(file: string): { constant: string; source: string; name: string; factory?: string } | null {
  for (const source of (readdirSync(SCRIPTS_DIR) as string[]).filter((f) => f.endsWith('.scripts.ts'))) {
    const text = readFileSync(new URL(source, SCRIPTS_DIR), 'utf8');
    for (const m of text.matchAll(/const (\w+) = defineScript\(\{([^}]*)\}/g)) {
      if (new RegExp(`file:\\s*'${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`).test(m[2]!)) {
        // A script with one command per key count is exported through a factory spreading the definition.
        const spread = text.search(new RegExp(`\\.\\.\\.${m[1]!}\\b`));
        const factory = spread < 0 ? undefined : [...text.slice(0, spread).matchAll(/export function (\w+)\(/g)].pop()?.[1];
        return { constant: m[1]!, source, name: /name:\s*'([^']+)'/.exec(m[2]!)?.[1] ?? file.replace(/\.lua$/, ''), factory };
      }
    }
  }
  return null;
}

/**
 * The script contract suite covers what ALL_SCRIPTS lists, and nothing else: a script added
 * without being listed there would run on Redis untested against its twin. Every Lua file must be
 * the source of some entry (each definition's `lua` starts with its file's `--[[ ]]` header; the
 * includes are inlined after it).
 */
describe('every Lua script is listed in ALL_SCRIPTS, so the script contract suite runs it', () => {
  it('finds the Lua files', () => {
    expect(luaFiles().length).toBeGreaterThan(0);
  });

  it('each .lua file under engine/scripts/ (but includes/) is the source of an ALL_SCRIPTS entry with a SCRIPT_CASES case', () => {
    const missing: string[] = [];
    for (const file of luaFiles()) {
      const text = readFileSync(new URL(file, SCRIPTS_DIR), 'utf8');
      const header = /^--\[\[[\s\S]*?\]\]/.exec(text)?.[0];
      const def = definitionOf(file);
      const where = !def
        ? `its defineScript({ file: '${file}' }) definition`
        : def.factory
          ? `${def.factory}(n) for each n the code uses (libs/redis/src/engine/scripts/${def.source})`
          : `${def.constant} (libs/redis/src/engine/scripts/${def.source})`;
      const name = def?.name ?? file.replace(/\.lua$/, '');
      if (!header) {
        missing.push(`scripts/${file} has no --[[ ]] header, so no definition can load it`);
        continue;
      }
      const entries = ALL_SCRIPTS.filter((s) => s.lua.startsWith(header));
      if (entries.length === 0) {
        missing.push(
          `scripts/${file} is run by no ALL_SCRIPTS entry: add ${where} to ALL_SCRIPTS in libs/redis/src/engine/scripts/all.scripts.ts, ` +
            `and a case '${name}' (seeded inputs reaching each outcome) to SCRIPT_CASES in libs/redis/test/scripts/script-cases.ts`,
        );
        continue;
      }
      for (const e of entries) {
        if (!SCRIPT_CASES[e.name]) missing.push(`scripts/${file} (ALL_SCRIPTS entry '${e.name}') has no case: add '${e.name}' (seeded inputs reaching each outcome) to SCRIPT_CASES in libs/redis/test/scripts/script-cases.ts`);
      }
    }
    expect(missing).toEqual([]);
  });
});
