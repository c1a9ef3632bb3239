import { Global, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DemoDatabase } from './database.service.js';

export const DEFAULT_DB_PATH = '.data/demo.sqlite';

function latencyFrom(config: ConfigService): number {
  const raw = config.get<string>('DEMO_DB_LATENCY_MS')?.trim();
  if (!raw) return 50;
  if (!/^\d+$/.test(raw) || Number(raw) > 60_000) throw new Error(`DEMO_DB_LATENCY_MS must be an integer from 0 to 60000 (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

/**
 * One database per process, opened (and seeded on first start) before the app listens. Tests that
 * run several demo instances in one process give them one shared `DemoDatabase`
 * (`overrideProvider(DemoDatabase)`), as instances of one deployment share one database.
 */
@Global()
@Module({
  providers: [
    {
      provide: DemoDatabase,
      inject: [ConfigService],
      useFactory: (config: ConfigService) =>
        DemoDatabase.open({ path: config.get<string>('DEMO_DB_PATH')?.trim() || DEFAULT_DB_PATH, latencyMs: latencyFrom(config) }),
    },
  ],
  exports: [DemoDatabase],
})
export class DatabaseModule {}
