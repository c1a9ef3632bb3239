import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { RedisConnection, SessionService, TokenDenylist } from 'nestjs-redis-kit';
import { STATUS_PAGE_CONFIG, type StatusPageConfig } from './status-page.config.js';

export const STATUS_COOKIE = 'redis_kit_status';

/** Must match the demo's deny-list entries (apps/demo/src/auth/auth.user.ts). */
const DENYLIST_ISSUER = 'nestjs-redis-kit-demo';
const digest = (value: string) => createHash('sha256').update(value).digest();

export interface CredentialSource {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Who may see the status page: the holder of GATEWAY_STATUS_TOKEN (works during a Redis outage too),
 * or an admin session of the demo (validated against Redis, like the edge does; refused while Redis
 * is away, since sessions cannot be verified then). The credential comes in `Authorization: Bearer`
 * or in the page's cookie, set by the login form.
 */
@Injectable()
export class StatusPageAuth {
  private readonly token: Buffer | null;

  constructor(
    @Inject(STATUS_PAGE_CONFIG) config: StatusPageConfig,
    private readonly connection: RedisConnection,
    private readonly sessions: SessionService,
    private readonly denylist: TokenDenylist,
  ) {
    this.token = config.token === null ? null : digest(config.token);
  }

  /** The credential a request carries, if any. */
  credentialOf(req: CredentialSource): string | undefined {
    const auth = first(req.headers.authorization);
    const bearer = auth ? /^Bearer\s+(\S+)$/i.exec(auth)?.[1] : undefined;
    return bearer ?? cookie(first(req.headers.cookie), STATUS_COOKIE);
  }

  async allows(credential: string | undefined): Promise<boolean> {
    if (!credential || credential.length > 512) return false;
    // Compared as digests: constant time, whatever the length presented.
    if (this.token && timingSafeEqual(digest(credential), this.token)) return true;
    if (this.connection.client === null) return false;
    try {
      const [session, denied] = await Promise.all([
        this.sessions.validate<{ role?: string }>(credential),
        this.denylist.isDenied({ jti: digest(credential).toString('base64url'), iss: DENYLIST_ISSUER }),
      ]);
      return session !== null && !denied && session.data?.role === 'admin';
    } catch {
      return false;
    }
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
