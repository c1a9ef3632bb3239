import { readFileSync } from 'node:fs';
import { LUA_SOURCES } from './lua.generated.js';
import type { ScriptDefinition, ScriptTwin } from './script.types.js';

export type { ScriptDefinition, ScriptReply, ScriptTwin } from './script.types.js';

/**
 * Defines the script `scripts/<file>`. The header's `KEYS[n]` lines are the single source of the
 * key count: every key a script touches must be declared there, or it would not run on Cluster.
 */
export function defineScript(spec: { name: string; version: number; file: string; twin: ScriptTwin }): ScriptDefinition {
  const lua = withIncludes(luaSource(spec.file), spec.file);
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua);
  if (!header) throw new Error(`scripts/${spec.file} must start with a --[[ ]] header naming KEYS, ARGV and the reply`);
  const declared = [...header[1]!.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
  const numberOfKeys = declared.length === 0 ? 0 : Math.max(...declared);
  return {
    name: spec.name,
    version: spec.version,
    commandName: `nrk_${spec.name.replace(/-/g, '_')}_v${spec.version}`,
    numberOfKeys,
    lua,
    twin: spec.twin,
  };
}

/**
 * The text of `scripts/<file>`: inlined at build time (`lua.generated.ts`, written by
 * `scripts/gen-lua.mjs`), so the built package and bundles of it never touch the disk. A script
 * added since the last generation is read from disk, which works when running from sources (tests);
 * `lua.generated.spec.ts` fails until the generated module is refreshed, and the build refreshes it.
 */
function luaSource(file: string): string {
  const inlined = LUA_SOURCES[file];
  if (inlined !== undefined) return inlined;
  try {
    return readFileSync(new URL(`./scripts/${file}`, import.meta.url), 'utf8');
  } catch {
    throw new Error(`scripts/${file} is neither in lua.generated.ts nor on disk; run \`node scripts/gen-lua.mjs\``);
  }
}

/**
 * Replaces each `--- @include "name"` line with `scripts/includes/name.lua`, so a helper shared by
 * several scripts (ending a session, say) is written once. Includes do not nest.
 */
function withIncludes(lua: string, file: string): string {
  return lua.replace(/^--- @include "([\w-]+)"$/gm, (_line, name: string) => {
    try {
      return luaSource(`includes/${name}.lua`).trimEnd();
    } catch {
      throw new Error(`scripts/${file} includes "${name}", but scripts/includes/${name}.lua does not exist`);
    }
  });
}
