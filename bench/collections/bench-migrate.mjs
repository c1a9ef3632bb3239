// migrateMap throughput: 100k entries of ~1 KB moved from a Map into a Redis hash, pipelined
// batches vs one entry per round trip, on one throwaway redis-server (no persistence).
// Usage (from the repo root, after `npm run build -w nestjs-redis-kit`):
//   node bench/collections/bench-migrate.mjs [--entries 100000] [--bytes 1024]
// NRK_LIB=<path to dist/index.js> runs against a build other than the installed package.
import { NestFactory } from '@nestjs/core';
import 'reflect-metadata';
import { startRedisServer } from '../support.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const ENTRIES = Number(arg('entries', 100_000));
const BYTES = Number(arg('bytes', 1024));
const { RedisModule, RedisCollections, migrateMap } = await import(process.env.NRK_LIB ?? 'nestjs-redis-kit');

const VARIANTS = [
  { name: 'one-by-one (batch 1, 1 in flight)', batchSize: 1, concurrency: 1 },
  { name: 'batch 100, 1 in flight', batchSize: 100, concurrency: 1 },
  { name: 'batch 500, 4 in flight (default)', batchSize: 500, concurrency: 4 },
  { name: 'batch 1000, 8 in flight', batchSize: 1000, concurrency: 8 },
];

const source = new Map();
for (let i = 0; i < ENTRIES; i++) source.set(`entry:${i}`, { id: i, payload: 'x'.repeat(Math.max(0, BYTES - 40)), at: new Date(1_700_000_000_000 + i) });

const redis = await startRedisServer();
const app = await NestFactory.createApplicationContext(RedisModule.forRoot({ url: redis.url, commandTimeoutMs: 10_000 }), { logger: ['error'] });
const collections = app.get(RedisCollections);
const rows = [];
try {
  for (const [i, v] of VARIANTS.entries()) {
    const target = collections.map(`bench-${i}`);
    const report = await migrateMap(source, target, { batchSize: v.batchSize, concurrency: v.concurrency, verify: { sample: 100 } });
    if (!report.verification.ok || report.written !== ENTRIES) throw new Error(`${v.name}: bad run ${JSON.stringify(report.verification)}`);
    rows.push({ variant: v.name, entries: ENTRIES, seconds: (report.durationMs / 1000).toFixed(2), entriesPerSecond: report.entriesPerSecond });
    await target.clear();
  }
} finally {
  await app.close();
  await redis.stop();
}
const base = rows[0].entriesPerSecond;
console.log(`migrateMap, ${ENTRIES} entries of ~${BYTES} B, node ${process.version}, redis-server on loopback`);
console.table(rows.map((r) => ({ ...r, 'vs one-by-one': `${(r.entriesPerSecond / base).toFixed(1)}x` })));
