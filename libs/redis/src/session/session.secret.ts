import { randomBytes } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import type { StoreEngine } from '../engine/store-engine.port.js';
import { SessionInputError } from './session.errors.js';

const SECRET_KEY = 'sess:secret';

/**
 * The HMAC key of user tags: `session.secret`, or one generated once and kept in Redis (SET NX,
 * so every instance ends up with the first one written). Never answered from an instance's
 * memory during an outage: a tag computed with a local secret would route nowhere afterwards.
 */
export class SessionSecret {
  // Kept out of `options` (which apps may log): only the HMAC key is held, as a promise.
  private secret?: Promise<Buffer>;
  private readonly configured: boolean;
  private conflictLogged = false;
  private offModeChange?: () => void;

  constructor(
    private readonly engine: () => StoreEngine,
    private readonly logger: Logger,
    configured: string | undefined,
  ) {
    this.configured = configured !== undefined;
    if (configured !== undefined) this.secret = Promise.resolve(Buffer.from(configured, 'utf8'));
  }

  /**
   * Learns a generated secret already kept in Redis while Redis answers (again after each outage):
   * an instance that knows it can still create sessions while Redis is away. Only reads: an app
   * that never creates a session leaves no key behind.
   */
  async warmUp(engine: StoreEngine): Promise<void> {
    if (this.configured) return;
    this.offModeChange ??= engine.onModeChange((mode) => {
      if (mode === 'redis') void this.learn().catch(() => undefined);
    });
    await this.learn().catch(() => undefined);
  }

  private async learn(): Promise<void> {
    if (this.secret) return;
    const stored = await this.engine().get(SECRET_KEY, { fallback: false });
    if (stored && !this.secret) this.secret = Promise.resolve(Buffer.from(stored, 'utf8'));
  }

  close(): void {
    this.offModeChange?.();
    this.offModeChange = undefined;
  }

  get(): Promise<Buffer> {
    this.secret ??= (async () => {
      await this.engine().set(SECRET_KEY, randomBytes(32).toString('base64url'), { nx: true, fallback: false });
      const stored = await this.engine().get(SECRET_KEY, { fallback: false });
      if (!stored) throw new SessionInputError(`the session secret kept in Redis (${SECRET_KEY}) vanished; set session.secret`);
      return Buffer.from(stored, 'utf8');
    })();
    const pending = this.secret;
    // A failed load (Redis away) is retried by the next call rather than remembered.
    pending.catch(() => {
      if (this.secret === pending) this.secret = undefined;
    });
    return pending;
  }

  /**
   * A generated secret that vanished from Redis (evicted under an allkeys-* policy, a FLUSHALL) would
   * let the next instance to start generate another one, and its sessions would be invisible to
   * this instance's list/revokeAll. Each sweep writes the secret this instance uses back (SET NX)
   * and says so loudly if Redis holds a different one.
   */
  async keep(): Promise<void> {
    if (this.configured || !this.secret) return;
    const mine = (await this.secret.catch(() => null))?.toString('utf8');
    if (!mine) return;
    await this.engine().set(SECRET_KEY, mine, { nx: true, fallback: false });
    const stored = await this.engine().get(SECRET_KEY, { fallback: false });
    if (stored !== mine && !this.conflictLogged) {
      this.conflictLogged = true;
      this.logger.error(`The session secret kept in Redis (${SECRET_KEY}) changed under this instance; set session.secret so every instance uses the same one`);
    }
  }
}
