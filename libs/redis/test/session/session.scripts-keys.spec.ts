import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';

const DIR = new URL('../../src/engine/scripts/', import.meta.url);
const INCLUDES = new URL('../../src/engine/scripts/includes/', import.meta.url);

/** Commands whose first argument is not a key. */
// TIME takes no key; PUBLISH's first argument is a channel (ACL-checked as one), not a key.
const KEYLESS = new Set(['TIME', 'PUBLISH']);
/** Commands where every argument is a key. */
const ALL_KEYS = new Set(['DEL', 'EXISTS', 'UNLINK', 'TOUCH']);

/**
 * Issue 13, "declare what you touch": in every Lua script of the library, each key a command
 * touches is KEYS[n] or a local bound directly to KEYS[n]: never a string built inside the script
 * (which Cluster slot migration, key-routing proxies and Dragonfly cannot route).
 */
describe('every Lua script names only declared keys', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.lua'));
  const includes = (() => {
    try {
      return readdirSync(INCLUDES).filter((f) => f.endsWith('.lua'));
    } catch {
      return [];
    }
  })();

  it('finds the scripts', () => {
    expect(files).toEqual(expect.arrayContaining(['session-create.lua', 'session-touch.lua', 'rate-limit-check.lua', 'lock-release.lua', 'counter-incr.lua', 'cache-lock-fail.lua', 'denylist-add.lua']));
  });

  for (const file of [...files, ...includes.map((f) => `includes/${f}`)]) {
    it(file, () => {
      const lua = readFileSync(new URL(file, DIR), 'utf8').replace(/^--\[\[[\s\S]*?\]\]/, '').replace(/--[^\n]*/g, '');
      const bound = new Set<string>();
      for (const m of lua.matchAll(/local\s+([\w\s,]+?)\s*=\s*([^\n]+)/g)) {
        const names = m[1]!.split(',').map((n) => n.trim());
        const values = m[2]!.split(',').map((v) => v.trim());
        names.forEach((name, i) => {
          if (/^KEYS\[\d+\]$/.test(values[i] ?? '')) bound.add(name);
        });
      }
      const problems: string[] = [];
      for (const m of lua.matchAll(/redis\.call\(\s*'(\w+)'\s*(?:,([^)]*))?\)/g)) {
        const command = m[1]!.toUpperCase();
        if (KEYLESS.has(command)) continue;
        const args = (m[2] ?? '').split(',').map((a) => a.trim());
        const keys = ALL_KEYS.has(command) ? args : args.slice(0, 1);
        for (const key of keys) if (!/^KEYS\[(\d+|i)\]$/.test(key) && !bound.has(key)) problems.push(`${command} on ${key}`);
      }
      expect(problems).toEqual([]);
    });
  }
});
