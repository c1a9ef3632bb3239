import { describe, expect, it } from '@jest/globals';
import { ConfigService } from '@nestjs/config';
import { statusPageConfig } from './status-page.config.js';

const config = (env: Record<string, string>) => statusPageConfig(new ConfigService(env));

describe('status page settings', () => {
  it('defaults: admin sessions only, a view every 2 s, 20 open pages', () => {
    expect(config({})).toEqual({ token: null, intervalMs: 2_000, maxClients: 20 });
  });

  it('refuses a guessable token and out-of-range numbers at start-up, naming the variable', () => {
    expect(() => config({ GATEWAY_STATUS_TOKEN: 'short' })).toThrow('GATEWAY_STATUS_TOKEN must be at least 16 characters');
    expect(() => config({ GATEWAY_STATUS_INTERVAL_MS: '10' })).toThrow('GATEWAY_STATUS_INTERVAL_MS must be an integer from 200 to 60000 (got "10")');
    expect(() => config({ GATEWAY_STATUS_MAX_CLIENTS: 'many' })).toThrow('GATEWAY_STATUS_MAX_CLIENTS must be an integer from 1 to 1000 (got "many")');
    expect(config({ GATEWAY_STATUS_TOKEN: ' 0123456789abcdef ', GATEWAY_STATUS_MAX_CLIENTS: '3' })).toMatchObject({ token: '0123456789abcdef', maxClients: 3 });
  });
});
