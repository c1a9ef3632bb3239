import type { Logger } from '@nestjs/common';
import type { StoreEngine, Unsubscribe } from '../engine/store-engine.port.js';

/**
 * A notice that sessions ended, sent on the session connection's pub/sub after a successful
 * `revoke`, `revokeHandle` or `revokeAll`, so holders of long-lived connections (sockets) on every
 * instance can drop them at once instead of at their next check. Sessions are named by the hash of
 * their secret, never by the id itself: a notice on a shared Redis must not hand out credentials.
 * `userId` (+ `except`, a hash) means every session of that user, but one.
 * @internal
 */
export type SessionRevocationNotice = { hashes: string[] } | { userId: string; except?: string };

/** Logical channel (the engine adds `keyPrefix`, so apps sharing a Redis keep their notices apart). */
export const SESSION_REVOKED_CHANNEL = 'sess:revoked';

/**
 * Publishes a notice. Best effort: the revocation itself is already done (or journaled), and a
 * notice lost to an outage is made up for by the holders' periodic re-validation. While Redis is
 * away the fallback engine delivers it within this instance.
 */
export async function announceRevocation(engine: StoreEngine, notice: SessionRevocationNotice, logger: Logger): Promise<void> {
  try {
    await engine.publish(SESSION_REVOKED_CHANNEL, JSON.stringify(notice));
  } catch (error) {
    logger.warn(`A session revocation notice could not be published (${error instanceof Error ? error.message : String(error)}); other instances drop its sockets at their next re-validation`);
  }
}

/** Subscribes to notices; malformed ones are ignored. */
export function subscribeRevocations(engine: StoreEngine, handler: (notice: SessionRevocationNotice) => void): Promise<Unsubscribe> {
  return engine.subscribe(SESSION_REVOKED_CHANNEL, (raw) => {
    let notice: unknown;
    try {
      notice = JSON.parse(raw);
    } catch {
      return;
    }
    if (!notice || typeof notice !== 'object') return;
    const n = notice as { hashes?: unknown; userId?: unknown; except?: unknown };
    if (Array.isArray(n.hashes) && n.hashes.every((h) => typeof h === 'string')) handler({ hashes: n.hashes as string[] });
    else if (typeof n.userId === 'string' && (n.except === undefined || typeof n.except === 'string')) handler({ userId: n.userId, except: n.except as string | undefined });
  });
}
