import { readFileSync } from 'node:fs';
import type { MemoryStore } from './memory.store.js';

/** What a script returns, in the shape ioredis hands back for Lua replies (RESP2 conversion). */
export type ScriptReply = null | number | string | ScriptReply[];

/**
 * The TypeScript twin of a Lua script. It runs synchronously against the memory store, so it is
 * as atomic as the Lua it mirrors; `nowMs` stands in for Redis `TIME`.
 */
export type ScriptTwin = (store: MemoryStore, keys: readonly string[], args: readonly string[], nowMs: number) => ScriptReply;

export interface ScriptDefinition {
  readonly name: string;
  readonly version: number;
  /** ioredis command name; the version is part of it so two releases never share a cached script. */
  readonly commandName: string;
  readonly numberOfKeys: number;
  readonly lua: string;
  readonly twin: ScriptTwin;
}

/**
 * Loads `scripts/<file>` next to this module. The header's `KEYS[n]` lines are the single source of
 * the key count: every key a script touches must be declared there, or it would not run on Cluster.
 */
export function defineScript(spec: { name: string; version: number; file: string; twin: ScriptTwin }): ScriptDefinition {
  const lua = withIncludes(readFileSync(new URL(`./scripts/${spec.file}`, import.meta.url), 'utf8'), spec.file);
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
 * Replaces each `--- @include "name"` line with `scripts/includes/name.lua`, so a helper shared by
 * several scripts (ending a session, say) is written once. Includes do not nest.
 */
function withIncludes(lua: string, file: string): string {
  return lua.replace(/^--- @include "([\w-]+)"$/gm, (_line, name: string) => {
    try {
      return readFileSync(new URL(`./scripts/includes/${name}.lua`, import.meta.url), 'utf8').trimEnd();
    } catch {
      throw new Error(`scripts/${file} includes "${name}", but scripts/includes/${name}.lua does not exist`);
    }
  });
}
