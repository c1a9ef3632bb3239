import { SESSION_REFRESH } from '../engine/scripts/session.scripts.js';
import { CREATE_ATTEMPTS, forget, RACE_ATTEMPTS, replicate, type SessionContext } from './session.context.js';
import { isUnavailable } from './session.engine.js';
import { asList } from './session.records.js';
import { issueToken, openPair, parseToken, sealPair, userKeys, type UserKeys } from './session.tokens.js';
import type { SessionTokens } from './session.types.js';

/** `SessionService.refresh`: rotation of a refresh token, with the grace window and reuse detection. */
export async function refreshSession(ctx: SessionContext, refreshToken: string): Promise<SessionTokens | null> {
  const parsed = parseToken(refreshToken);
  if (!parsed) return null;
  ctx.startSweep();
  if (ctx.store.outage()) {
    ctx.counters.rejectedWhileUnavailable++;
    return null;
  }
  const keys = userKeys(parsed.tag);
  try {
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS + RACE_ATTEMPTS; attempt++) {
      const outcome = await rotate(ctx, keys, parsed.hash, parsed.secret);
      if (outcome === 'again') continue;
      if (ctx.store.outage()) {
        // Answered by the in-process store: a rotation Redis never saw.
        ctx.counters.rejectedWhileUnavailable++;
        return null;
      }
      return outcome;
    }
  } catch (error) {
    if (isUnavailable(error)) {
      ctx.counters.rejectedWhileUnavailable++;
      return null;
    }
    throw error;
  }
  return null;
}

/** One refresh attempt: reads the record (and the family pointer), then runs the script with every key declared. */
async function rotate(ctx: SessionContext, keys: UserKeys, presented: string, presentedSecret: string): Promise<SessionTokens | null | 'again'> {
  const engine = ctx.store.engine;
  const r = keys.refresh(presented);
  // Read from Redis only: a rotation decided on one instance's memory would split the family.
  const record = await engine.get(r, { fallback: false });
  if (record === null) return null;
  const match = /^([cxg]):([A-Za-z0-9_-]+)(?::|$)/.exec(record);
  if (!match) return null;
  const [, state, family] = match as unknown as [string, string, string];
  let current = '';
  let sessionKey: string;
  if (state === 'c') {
    sessionKey = keys.session(record.slice(3 + family.length));
  } else {
    current = (await engine.get(keys.family(family), { fallback: false })) ?? '';
    if (current === '') {
      // The family has ended already: a retired token is still reuse, with nothing left to revoke.
      reused(ctx, '', 0);
      return null;
    }
    sessionKey = keys.session(current);
  }
  const session = issueToken(keys.tag);
  const refresh = issueToken(keys.tag);
  const graceMs = ctx.options.refreshGraceMs;
  const sealed = graceMs > 0 ? sealPair(presentedSecret, session.token, refresh.token) : '';
  const reply = asList(
    await engine.runScript(
      SESSION_REFRESH,
      [r, keys.family(family), sessionKey, keys.idx, keys.live, keys.session(session.hash), keys.refresh(refresh.hash)],
      [presented, record, current, session.hash, refresh.hash, graceMs, sealed],
    ),
  );
  const status = Number(reply[0]);
  if (status === 1) {
    ctx.counters.refreshed++;
    await replicate(ctx, 'refresh');
    return { sessionId: session.token, refreshToken: refresh.token, expiresAt: Number(reply[2]), absoluteExpiresAt: Number(reply[3]) };
  }
  if (status === 2) {
    const pair = openPair(presentedSecret, String(reply[1]));
    if (!pair) return null;
    ctx.counters.refreshGraceReplays++;
    return { ...pair, expiresAt: Number(reply[2]), absoluteExpiresAt: Number(reply[3]) };
  }
  if (status === -1) {
    const revoked = Number(reply[1]);
    if (reply[2] && reply[3] && !ctx.store.outage()) await forget(ctx, keys, String(reply[2]), family, String(reply[3]));
    await replicate(ctx, 'refresh-reuse');
    reused(ctx, String(reply[4] ?? ''), revoked);
    return null;
  }
  if (status === -2 || status === -3) return 'again';
  return null;
}

function reused(ctx: SessionContext, userId: string, revoked: number): void {
  ctx.counters.reuseDetected++;
  ctx.counters.revoked += revoked;
  // No id, token or user in the log line: the event carries what the app needs.
  ctx.logger.warn(`A retired refresh token was presented again; its family was revoked (${revoked} live session(s))`);
  ctx.events.emit('refresh-reuse', { userId, revoked });
}
