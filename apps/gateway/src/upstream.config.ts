import type { Provider } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

export const UPSTREAM_URL = Symbol('UPSTREAM_URL');
export const DEFAULT_DEMO_URL = 'http://127.0.0.1:3000';

/** Resolved once at start-up so a malformed DEMO_URL fails there, not on the first proxied request. */
export const upstreamProvider: Provider = {
  provide: UPSTREAM_URL,
  inject: [ConfigService],
  useFactory: (config: ConfigService): string => {
    const raw = config.get<string>('DEMO_URL')?.trim() || DEFAULT_DEMO_URL;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`DEMO_URL must be an http:// or https:// URL (got ${JSON.stringify(raw)})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`DEMO_URL must be an http:// or https:// URL (got ${JSON.stringify(raw)})`);
    }
    // Kept as written (minus a trailing slash) so the status page shows what the operator configured.
    return raw.replace(/\/+$/, '');
  },
};
