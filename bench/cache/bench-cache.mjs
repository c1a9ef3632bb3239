// Cache benchmark: nestjs-redis-kit against raw ioredis, cache-manager 7 + @keyv/redis,
// bentocache and an in-process floor (a bare lru-cache behind the same async call), side by side
// against one local redis-server, alternating rounds (variant order rotated each round). Not a
// test: it prints medians, paired ratios and the issue #12 goals marked met / not met. Usage: npm run bench:cache [-- --ops 50000 --rounds 5]
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createKeyv } from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisDriver } from 'bentocache/drivers/redis';
import { createCache } from 'cache-manager';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { CacheService, RedisModule } from 'nestjs-redis-kit';
import { startRedisServer } from '../support.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const OPS = arg('ops', 50_000);
const WARMUP = arg('warmup', 5_000);
const ROUNDS = arg('rounds', 5);
const KEYS = 10_000;
const IN_FLIGHT = 64;
const TTL_S = 3_600;

// ~1 KB JSON value, different per key.
const valueFor = (i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b', 'c'], text: 'x'.repeat(880), n: i * 7, ok: true, nested: { i, s: String(i) } });


// Seeded sequence of key indexes shared by every variant.
function sequence(n, seed) {
  let x = seed >>> 0 || 1;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % KEYS;
  }
  return out;
}

/** Runs `op(i)` for each index with IN_FLIGHT promises in flight; returns ops/s. */
async function drive(indexes, op) {
  let next = 0;
  let wrong = 0;
  const worker = async () => {
    while (next < indexes.length) {
      const i = indexes[next++];
      const r = await op(i);
      if (r === false) wrong++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const ms = performance.now() - started;
  return { opsPerSec: (indexes.length / ms) * 1000, wrong };
}

const check = (i, v) => v !== undefined && v !== null && v.id === i;

async function makeVariants(url, port) {
  Logger.overrideLogger(false);
  const raw = new Redis({ port, host: '127.0.0.1' });
  const auto = new Redis({ port, host: '127.0.0.1', enableAutoPipelining: true });
  const cm = createCache({ stores: [createKeyv(url, { namespace: 'cm' })] });
  const bentoL2 = new BentoCache({ default: 'c', stores: { c: bentostore().useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port, keyPrefix: 'bl2:' } })) } });
  const bentoL1 = new BentoCache({
    default: 'c',
    stores: { c: bentostore().useL1Layer(memoryDriver({ maxItems: 20_000 })).useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port, keyPrefix: 'bl1:' } })) },
  });
  const oursApp = await NestFactory.createApplicationContext(RedisModule.forRoot({ url, keyPrefix: 'ours:', cache: { ttl: '1h' } }), { logger: false });
  const oursL1App = await NestFactory.createApplicationContext(RedisModule.forRoot({ url, keyPrefix: 'oursl1:', cache: { ttl: '1h', l1: { maxEntries: 20_000, ttl: '1h' } } }), { logger: false });
  // The floor for any L1: a bare LRU get behind the same async call every cache API has.
  const lru = new LRUCache({ max: 20_000, ttl: TTL_S * 1000 });
  const ours = oursApp.get(CacheService);
  const oursL1 = oursL1App.get(CacheService);
  const rawVariant = (name, client, prefix) => ({
    name,
    set: (i) => client.set(`${prefix}${i}`, JSON.stringify(valueFor(i)), 'EX', TTL_S),
    get: async (i) => check(i, JSON.parse(await client.get(`${prefix}${i}`))),
  });
  return {
    variants: [
      rawVariant('ioredis-raw', raw, 'raw:'),
      rawVariant('ioredis-autopipe', auto, 'auto:'),
      { name: 'cache-manager', set: (i) => cm.set(`k${i}`, valueFor(i), TTL_S * 1000), get: async (i) => check(i, await cm.get(`k${i}`)) },
      { name: 'bentocache-l2', set: (i) => bentoL2.set({ key: `k${i}`, value: valueFor(i), ttl: '1h' }), get: async (i) => check(i, await bentoL2.get({ key: `k${i}` })) },
      { name: 'bentocache-l1l2', set: (i) => bentoL1.set({ key: `k${i}`, value: valueFor(i), ttl: '1h' }), get: async (i) => check(i, await bentoL1.get({ key: `k${i}` })) },
      { name: 'lru-floor', set: async (i) => void lru.set(`k${i}`, valueFor(i)), get: async (i) => check(i, lru.get(`k${i}`)) },
      { name: 'ours-redis', set: (i) => ours.set(`k${i}`, valueFor(i)), get: async (i) => check(i, await ours.get(`k${i}`)) },
      { name: 'ours-l1', set: (i) => oursL1.set(`k${i}`, valueFor(i)), get: async (i) => check(i, await oursL1.get(`k${i}`)) },
    ],
    close: async () => {
      raw.disconnect();
      auto.disconnect();
      await cm.disconnect();
      await bentoL2.disconnectAll();
      await bentoL1.disconnectAll();
      await oursApp.close();
      await oursL1App.close();
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function stampede(url, processes) {
  const worker = fileURLToPath(new URL('./stampede-worker.mjs', import.meta.url));
  const key = `cold-${processes}-${Date.now()}`;
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, [worker], { env: { ...process.env, BENCH_STAMPEDE: JSON.stringify({ url, key, calls: 1_000, loaderMs: 100 }) }, stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const outputs = children.map(() => '');
  const ready = children.map((c, i) => new Promise((resolve) => c.stdout.on('data', (d) => ((outputs[i] += d), /READY/.test(outputs[i]) && resolve()))));
  await Promise.all(ready);
  const done = children.map((c, i) => new Promise((resolve) => c.once('exit', () => resolve(JSON.parse(/RESULT (.*)/.exec(outputs[i])[1])))));
  for (const c of children) c.stdin.write('go\n');
  const results = await Promise.all(done);
  return { loads: results.reduce((s, r) => s + r.loads, 0), ok: results.reduce((s, r) => s + r.ok, 0) };
}

async function main() {
  const server = await startRedisServer();
  const started = Date.now();
  const { variants, close } = await makeVariants(server.url, server.port);
  try {
    for (const v of variants) for (let i = 0; i < KEYS; i += IN_FLIGHT) await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, KEYS - i) }, (_, j) => v.set(i + j)));
    const results = {}; // `${variant}|${phase}` -> ops/s per round
    let wrongTotal = 0;
    const wrongBy = {};
    for (let round = 0; round < ROUNDS; round++) {
      const order = variants.map((_, i) => variants[(i + round) % variants.length]);
      for (const phase of ['get', 'set']) {
        const warm = sequence(WARMUP, 7 + round);
        const seq = sequence(OPS, 1_000 + round);
        for (const v of order) {
          await drive(warm, v[phase]);
          globalThis.gc?.();
          const { opsPerSec, wrong } = await drive(seq, v[phase]);
          wrongTotal += phase === 'get' ? wrong : 0;
          if (phase === 'get' && wrong > 0) wrongBy[v.name] = (wrongBy[v.name] ?? 0) + wrong;
          (results[`${v.name}|${phase}`] ??= []).push(opsPerSec);
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done (${Math.round((Date.now() - started) / 1000)} s)\n`);
    }
    const med = (name, phase) => median(results[`${name}|${phase}`]);
    const paired = (name, phase, base) => median(results[`${name}|${phase}`].map((x, r) => x / results[`${base}|${phase}`][r]));
    const rows = [];
    const bases = ['ioredis-raw', 'cache-manager', 'bentocache-l2', 'bentocache-l1l2', 'lru-floor'];
    for (const phase of ['get', 'set']) {
      for (const v of variants) {
        const ratios = bases.map((b) => paired(v.name, phase, b).toFixed(2)).join(' | ');
        rows.push(`| ${v.name} | ${phase}${phase === 'get' && /l1|lru/.test(v.name) ? ' (L1 hit)' : ''} | ${Math.round(med(v.name, phase)).toLocaleString('en-US')} | ${ratios} |`);
      }
    }
    const s1 = await stampede(server.url, 1);
    const s4 = await stampede(server.url, 4);
    console.log(`\nnestjs-redis-kit cache bench: ${OPS.toLocaleString('en-US')} ops/phase/round, ${ROUNDS} rounds, ${KEYS} keys, ~1 KB JSON, ${IN_FLIGHT} in flight, node ${process.version}`);
    console.log(`\n| variant | phase | median ops/s | ${bases.map((b) => `/ ${b}`).join(' | ')} |\n| --- | --- | --- | ${bases.map(() => '---').join(' | ')} |`);
    console.log(rows.join('\n'));
    console.log(`\nwrong or missing values on get: ${wrongTotal}${wrongTotal > 0 ? ` (${JSON.stringify(wrongBy)})` : ''}`);
    console.log('\n| stampede: 1,000 concurrent cold getOrSet per process, loader 100 ms | loader calls | calls answered |\n| --- | --- | --- |');
    console.log(`| ours, 1 process | ${s1.loads} | ${s1.ok}/1000 |`);
    console.log(`| ours, 4 processes | ${s4.loads} | ${s4.ok}/4000 |`);
    const goal = (label, value, min) => console.log(`- ${label} >= ${min}x: ${value.toFixed(2)}x -> ${value >= min ? 'met' : 'NOT met'}`);
    console.log('\nGoals (paired medians):');
    goal('Redis-only set vs raw ioredis SET EX', paired('ours-redis', 'set', 'ioredis-raw'), 0.9);
    goal('set with L1 on vs raw ioredis SET EX', paired('ours-l1', 'set', 'ioredis-raw'), 0.8);
    goal('Redis-hit get vs raw ioredis GET + JSON.parse', paired('ours-redis', 'get', 'ioredis-raw'), 0.9);
    goal('L1-hit get vs bare lru-cache get behind an async call', paired('ours-l1', 'get', 'lru-floor'), 0.5);
    goal('Redis-hit get vs cache-manager', paired('ours-redis', 'get', 'cache-manager'), 1.5);
    goal('L1-hit get vs bentocache tiered', paired('ours-l1', 'get', 'bentocache-l1l2'), 1);
    console.log(`- exactly 1 loader call across 4 processes: ${s4.loads} -> ${s4.loads === 1 ? 'met' : 'NOT met'}`);
    console.log(`\ntotal ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await close();
    await server.stop();
  }
}

await main();
