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
