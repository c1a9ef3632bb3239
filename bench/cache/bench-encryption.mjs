// Cost of cache.encryption (AES-256-GCM) next to the plain path, on one local redis-server: the same
// CacheService get and set, plain and encrypted, alternating rounds (order swapped each round). Not a
// test: it prints medians of ops/s and the ratio encrypted/plain.
// Usage: npm run bench:encryption [-- --ops 40000 --rounds 7 --size 1024]
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CacheService, RedisModule } from 'nestjs-redis-kit';
import { startRedisServer } from '../support.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const OPS = arg('ops', 40_000);
const ROUNDS = arg('rounds', 7);
const SIZE = arg('size', 1024);
const KEYS = 5_000;
const IN_FLIGHT = 64;

const valueFor = (i) => ({ id: i, name: `item-${i}`, text: 'x'.repeat(Math.max(0, SIZE - 60)), ok: true });

async function drive(n, op) {
  let next = 0;
  let wrong = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      if ((await op(i % KEYS)) === false) wrong++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { opsPerSec: (n / (performance.now() - started)) * 1000, wrong };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const redis = await startRedisServer();
Logger.overrideLogger(false);
const apps = [];
async function cache(prefix, extra) {
  const app = await NestFactory.createApplicationContext(RedisModule.forRoot({ url: redis.url, keyPrefix: prefix, cache: { ttl: '1h', ...extra } }), { logger: false });
  apps.push(app);
  return app.get(CacheService);
}
const variants = [
  { name: 'plain', cache: await cache('plain:', {}) },
  { name: 'encrypted', cache: await cache('enc:', { encryption: { keys: [{ id: 'k1', secret: randomBytes(32).toString('base64') }] } }) },
];

const results = Object.fromEntries(variants.map((v) => [v.name, { set: [], get: [] }]));
for (const v of variants) await drive(KEYS, (i) => v.cache.set(`k${i}`, valueFor(i))); // warm-up + fill
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) {
    const set = await drive(OPS, (i) => v.cache.set(`k${i}`, valueFor(i)));
    const get = await drive(OPS, async (i) => (await v.cache.get(`k${i}`))?.id === i);
    if (get.wrong > 0) throw new Error(`${v.name}: ${get.wrong} wrong reads`);
    results[v.name].set.push(set.opsPerSec);
    results[v.name].get.push(get.opsPerSec);
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`cache.encryption cost: ${ROUNDS} rounds x ${OPS} ops, ${IN_FLIGHT} in flight, ~${SIZE} B JSON values, redis-server ${redis.port}, node ${process.version}`);
console.log('| op  | plain ops/s (median) | encrypted ops/s (median) | encrypted / plain |');
console.log('|-----|---------------------:|-------------------------:|------------------:|');
for (const op of ['get', 'set']) {
  const p = median(results.plain[op]);
  const e = median(results.encrypted[op]);
  console.log(`| ${op} | ${fmt(p)} | ${fmt(e)} | ${(e / p).toFixed(2)} |`);
}
for (const app of apps) await app.close();
await redis.stop();
process.exit(0);
