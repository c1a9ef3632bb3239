import type { Provider } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

/** DEMO_URL as configured (minus trailing slashes), for the status page. */
export const UPSTREAM_URL = Symbol('UPSTREAM_URL');
/** The upstreams requests are spread over, in round robin. */
export const UPSTREAM_URLS = Symbol('UPSTREAM_URLS');
export const DEFAULT_DEMO_URL = 'http://127.0.0.1:3000';

/** DEMO_URL: one URL or a comma-separated list. Parsed at start-up so a bad one fails there, not on the first request. */
export function parseUpstreams(raw: string | undefined): string[] {
  const list = (raw?.trim() || DEFAULT_DEMO_URL).split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (list.length === 0) throw new Error('DEMO_URL must name at least one http:// or https:// URL');
  return list.map((entry) => {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`DEMO_URL must be an http:// or https:// URL, or a comma-separated list of them (got ${JSON.stringify(entry)})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`DEMO_URL must be an http:// or https:// URL, or a comma-separated list of them (got ${JSON.stringify(entry)})`);
    }
    return entry.replace(/\/+$/, '');
  });
}

export const upstreamProviders: Provider[] = [
  {
    provide: UPSTREAM_URLS,
    inject: [ConfigService],
    useFactory: (config: ConfigService): string[] => parseUpstreams(config.get<string>('DEMO_URL')),
  },
  // Kept as written so the status page shows what the operator configured.
  { provide: UPSTREAM_URL, inject: [UPSTREAM_URLS], useFactory: (urls: string[]): string => urls.join(',') },
];
