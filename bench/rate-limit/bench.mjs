// Rate-limit guards side by side: autocannon against one minimal Nest 12 app per variant, all
// sharing one redis-server on a free loopback port, rounds alternating with the order rotated.
// Usage (from the repo root): npm run bench:rate-limit --prefix bench [-- --duration 5 --rounds 3]
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { startProcess, startRedisServer } from '../support.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const DURATION = Number(arg('duration', 5));
const ROUNDS = Number(arg('rounds', 3));
const WARMUP = Number(arg('warmup', 1));
const CONNECTIONS = Number(arg('connections', 50));
const VARIANTS = (arg('only', '') || 'none,ours:1,ours:3,throttler-memory:1,throttler-memory:3,throttler-redis:1,throttler-redis:3,rlf-redis:1,rlf-redis:3').split(',');


async function commandStats(redis) {
  const text = await redis.info('commandstats');
  const stats = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[m[1]] = Number(m[2]);
  return stats;
}

function delta(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    if (k === 'info') continue;
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function cannon(url, seconds) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: seconds }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

const { url: redisUrl } = await startRedisServer();
const admin = new Redis(redisUrl);

const appPath = fileURLToPath(new URL('./app.mjs', import.meta.url));
const apps = {};
for (const v of VARIANTS) {
  const [variant, policies = '1'] = v.split(':');
  const { match } = await startProcess(process.execPath, [appPath], { env: { VARIANT: variant, POLICIES: policies, REDIS_URL: redisUrl }, ready: /READY (\d+)/, what: `app ${v}` });
  apps[v] = `http://127.0.0.1:${match[1]}/`;
}

const rows = Object.fromEntries(VARIANTS.map((v) => [v, []]));
const started = Date.now();
for (let round = 0; round < ROUNDS; round++) {
  const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
  for (const v of order) {
    await cannon(apps[v], WARMUP);
    const before = await commandStats(admin);
    const r = await cannon(apps[v], DURATION);
    const cmds = delta(await commandStats(admin), before);
    const requests = r.requests.total;
    const total = Object.values(cmds).reduce((a, b) => a + b, 0);
    rows[v].push({
      rps: r.requests.average,
      p99: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      cmdsPerReq: total / requests,
      tripsPerReq: ((cmds.evalsha ?? 0) + (cmds.eval ?? 0)) / requests,
      cmds,
      requests,
    });
    process.stderr.write(`round ${round + 1}/${ROUNDS} ${v}: ${Math.round(r.requests.average)} req/s, p99 ${r.latency.p99} ms\n`);
  }
}

const none = rows.none;
const fmt = (n, d = 2) => n.toFixed(d);
const lines = [
  `rate-limit bench: ${ROUNDS} rounds x ${DURATION} s (+${WARMUP} s warm-up), ${CONNECTIONS} connections, GET / on Nest 12 + Express, one hot key (127.0.0.1), nothing refused`,
  '',
  '| variant | policies | req/s median | ratio to none (paired) | p99 ms median | p99 ratio | Redis cmds/req | round trips/req | commands (last round) | non-2xx |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const v of VARIANTS) {
  const [variant, policies = '-'] = v.split(':');
  const rs = rows[v];
  const ratio = none ? median(rs.map((r, i) => r.rps / none[i].rps)) : NaN;
  const p99ratio = none ? median(rs.map((r, i) => r.p99 / Math.max(1, none[i].p99))) : NaN;
  const last = rs[rs.length - 1];
  const cmdList = Object.entries(last.cmds)
    .map(([k, n]) => `${k} ${fmt(n / last.requests)}`)
    .join(', ');
  lines.push(
    `| ${variant} | ${variant === 'none' ? '-' : policies} | ${Math.round(median(rs.map((r) => r.rps)))} | ${fmt(ratio)} | ${median(rs.map((r) => r.p99))} | ${fmt(p99ratio)} | ${fmt(median(rs.map((r) => r.cmdsPerReq)))} | ${fmt(median(rs.map((r) => r.tripsPerReq)))} | ${cmdList || '-'} | ${rs.reduce((a, r) => a + r.non2xx + r.errors, 0)} |`,
  );
}
const ours3 = rows['ours:3'];
const thr3 = rows['throttler-redis:3'];
if (ours3 && thr3) lines.push('', `ours (3 policies) / throttler + redis storage (3 policies), paired req/s ratio: ${fmt(median(ours3.map((r, i) => r.rps / thr3[i].rps)))}`);
lines.push('', `wall time ${Math.round((Date.now() - started) / 1000)} s`);
console.log(lines.join('\n'));

await admin.quit();
// Exiting kills the apps and redis-server (see support.mjs).
process.exit(0);
