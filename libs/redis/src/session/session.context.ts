import type { EventEmitter } from 'node:events';
import type { Logger } from '@nestjs/common';
import { SESSION_FORGET, SESSION_REVOKE } from '../engine/scripts/session.scripts.js';
import type { SessionEngine } from './session.engine.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { asList } from './session.records.js';
import type { UserKeys } from './session.tokens.js';
import type { SessionCounters, SessionServiceEvents } from './session.types.js';

/**
 * What SessionService lends its parts (refresh, sweep, stats): one set of counters, one engine, one
 * emitter, so splitting the code over files changes nothing a caller can see.
 */
export interface SessionContext {
  readonly options: ResolvedSessionOptions;
  readonly store: SessionEngine;
  readonly counters: SessionCounters;
  readonly logger: Logger;
  /** The service itself: events reach the listeners apps added to it. */
  readonly events: EventEmitter<SessionServiceEvents>;
  startSweep(): void;
}

// Index-then-script operations (list, refresh) read again this often when the data moved in between.
export const RACE_ATTEMPTS = 5;
export const CREATE_ATTEMPTS = 3;

/** Deletes the record of a session that already left the index, then what pointed at it. Best effort. */
export async function dropRecord(ctx: SessionContext, keys: UserKeys, hash: string): Promise<void> {
  if (ctx.store.outage()) return;
  try {
    const reply = asList(await ctx.store.engine.runScript(SESSION_REVOKE, [keys.session(hash), keys.idx, keys.live], [hash]));
    if (reply[1]) await forget(ctx, keys, hash, String(reply[1]), String(reply[2] ?? ''));
  } catch {
    // Left to expire: the record at its idle deadline, the pointers at the absolute one.
  }
}

/** Deletes an ended session's family pointer and current refresh record, if they still name it. Best effort. */
export async function forget(ctx: SessionContext, keys: UserKeys, hash: string, family: string, refreshHash = ''): Promise<void> {
  if (!family) return;
  try {
    await ctx.store.engine.runScript(SESSION_FORGET, [keys.family(family), keys.refresh(refreshHash)], [hash, family]);
  } catch {
    // Both expire at the family's absolute deadline; a refresh finds the session gone meanwhile.
  }
}

export async function replicate(ctx: SessionContext, operation: string): Promise<void> {
  if (ctx.options.durability !== 'replicated') return;
  const acknowledged = await ctx.store.engine.wait(1, ctx.options.replicationTimeoutMs);
  if (acknowledged >= 1) {
    ctx.counters.replicationConfirmed++;
    return;
  }
  ctx.counters.replicationUnconfirmed++;
  ctx.events.emit('replication-unconfirmed', { operation });
}
