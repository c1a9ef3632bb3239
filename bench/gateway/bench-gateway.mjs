// Gateway throughput on GET /api/trips: the demo with its cache vs the same demo with DEMO_CACHE=off
// (every request reaches the database, DEMO_DB_LATENCY_MS each query). Two full stacks (demo +
// gateway) on one redis-server, built apps run as separate processes; rounds alternate between the
// stacks, order rotated, and the table shows medians.
// Usage (from the repo root, after `npm run build`):
//   npm run bench:gateway --prefix bench [-- --duration 5 --rounds 5 --connections 50 --latency 50]
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort, startProcess, startRedisServer } from '../support.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const DURATION = Number(arg('duration', 5));
const ROUNDS = Number(arg('rounds', 5));
const CONNECTIONS = Number(arg('connections', 50));
const LATENCY = String(arg('latency', 50));
const PATH = '/api/trips?pageSize=10';
const root = fileURLToPath(new URL('../../', import.meta.url));

for (const main of ['apps/demo/dist/main.js', 'apps/gateway/dist/main.js']) {
  if (!existsSync(root + main)) {
    console.error(`${main} is missing: run \`npm run build\` at the repository root first`);
    process.exit(2);
  }
}


async function stack(name, redisUrl, cache) {
  const demoPort = await freePort();
  const gatewayPort = await freePort();
  const common = { REDIS_URL: redisUrl, GATEWAY_SHARED_SECRET: 'bench-shared-secret-0123456789', NODE_ENV: 'production' };
  await startProcess(process.execPath, ['apps/demo/dist/main.js'], {
    cwd: root,
    env: { ...common, PORT: String(demoPort), DEMO_DB_PATH: ':memory:', DEMO_DB_LATENCY_MS: LATENCY, DEMO_CACHE: cache, REDIS_KEY_PREFIX: `${name}:` },
    ready: /Listening on/,
    what: `${name} demo`,
  });
  // A budget no benchmark reaches: the guard still runs (one Redis call per request), it never refuses.
  await startProcess(process.execPath, ['apps/gateway/dist/main.js'], {
    cwd: root,
    env: { ...common, PORT: String(gatewayPort), DEMO_URL: `http://127.0.0.1:${demoPort}`, GATEWAY_RATE_LIMIT: '1000000000', REDIS_KEY_PREFIX: `${name}:` },
    ready: /Listening on/,
    what: `${name} gateway`,
  });
  return { name, url: `http://127.0.0.1:${gatewayPort}${PATH}` };
}

function run(url, duration) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const { url: redisUrl } = await startRedisServer();
const stacks = [await stack('cached', redisUrl, 'on'), await stack('uncached', redisUrl, 'off')];

const samples = new Map(stacks.map((s) => [s.name, { rps: [], p50: [], p99: [], non2xx: 0 }]));
for (const s of stacks) await run(s.url, 1); // warm-up: JIT, connections, the first cache fill
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? stacks : [...stacks].reverse();
  for (const s of order) {
    const r = await run(s.url, DURATION);
    const m = samples.get(s.name);
    m.rps.push(r.requests.average);
    m.p50.push(r.latency.p50);
    m.p99.push(r.latency.p99);
    m.non2xx += r.non2xx + r.errors;
    console.error(`round ${round + 1}/${ROUNDS} ${s.name}: ${Math.round(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms`);
  }
}

const base = median(samples.get('uncached').rps);
console.log(`\nGET ${PATH} through the gateway (rate-limit guard + session middleware + proxy), ${CONNECTIONS} connections, ${ROUNDS} x ${DURATION} s rounds alternating, DEMO_DB_LATENCY_MS=${LATENCY}, Redis ${redisUrl.replace(/:\d+$/, '')}\n`);
console.log('| demo | req/s (median) | p50 ms | p99 ms | vs uncached | non-2xx/errors |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const s of stacks) {
  const m = samples.get(s.name);
  const rps = median(m.rps);
  console.log(`| ${s.name === 'cached' ? 'cache on' : 'DEMO_CACHE=off'} | ${Math.round(rps)} | ${median(m.p50)} | ${median(m.p99)} | ${(rps / base).toFixed(2)}x | ${m.non2xx} |`);
}
process.exit(0);
