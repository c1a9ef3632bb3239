import type { Provider } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

export interface StatusPageConfig {
  /** GATEWAY_STATUS_TOKEN; null = only an admin session opens the page. */
  token: string | null;
  /** How often open pages get a new snapshot (GATEWAY_STATUS_INTERVAL_MS, default 2000). */
  intervalMs: number;
  /** Open live streams at most (GATEWAY_STATUS_MAX_CLIENTS, default 20); more are refused with 503. */
  maxClients: number;
}

export const STATUS_PAGE_CONFIG = Symbol('STATUS_PAGE_CONFIG');

function int(config: ConfigService, name: string, fallback: number, min: number, max: number): number {
  const raw = config.get<string>(name)?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new Error(`${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

export function statusPageConfig(config: ConfigService): StatusPageConfig {
  const token = config.get<string>('GATEWAY_STATUS_TOKEN')?.trim() || null;
  // A short token would be guessed; the login is rate limited, but not enough for 6 characters.
  if (token !== null && token.length < 16) throw new Error('GATEWAY_STATUS_TOKEN must be at least 16 characters');
  return {
    token,
    intervalMs: int(config, 'GATEWAY_STATUS_INTERVAL_MS', 2_000, 200, 60_000),
    maxClients: int(config, 'GATEWAY_STATUS_MAX_CLIENTS', 20, 1, 1_000),
  };
}

export const statusPageProviders: Provider[] = [{ provide: STATUS_PAGE_CONFIG, inject: [ConfigService], useFactory: statusPageConfig }];
