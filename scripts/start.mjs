// `npm start` (after `npm run build`): runs the demo and the gateway side by side, waits until both
// answer, and says where to look. The environment passes through, so REDIS_URL and friends apply;
// with no REDIS_* set both apps serve from the embedded in-memory store.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const READY_TIMEOUT_MS = 60_000;

// The apps read .env themselves; loading it here too makes DEMO_PORT, GATEWAY_PORT and HOST in
// .env apply to this script's readiness check. Variables already in the shell win over the file.
const envFile = join(root, '.env');
if (existsSync(envFile)) process.loadEnvFile(envFile);

function portFrom(name, fallback) {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65_535) {
    console.error(`start: ${name} must be an integer from 1 to 65535 (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return port;
}

const host = process.env.HOST?.trim() || '127.0.0.1';
// A wildcard bind is reachable on loopback; that is where the readiness check and the printed URLs point.
const reachableHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
const urlHost = reachableHost.includes(':') ? `[${reachableHost}]` : reachableHost;
const demoPort = portFrom('DEMO_PORT', 3000);
const gatewayPort = portFrom('GATEWAY_PORT', 3001);
if (demoPort === gatewayPort) {
  console.error(`start: DEMO_PORT and GATEWAY_PORT are both ${demoPort}; they need different ports`);
  process.exit(2);
}
const demoUrl = `http://${urlHost}:${demoPort}`;
const gatewayUrl = `http://${urlHost}:${gatewayPort}`;

// The demo believes the gateway's X-User-Id only with this secret; without one configured, a
// fresh random one per run keeps the pair working and nothing else able to claim an identity.
const gatewaySecret = process.env.GATEWAY_SHARED_SECRET?.trim() || randomBytes(24).toString('base64url');

const apps = [
  { name: 'demo', main: 'apps/demo/dist/main.js', url: demoUrl, env: { PORT: String(demoPort), GATEWAY_SHARED_SECRET: gatewaySecret } },
  // An explicit DEMO_URL wins: the gateway may front a demo that runs elsewhere.
  { name: 'gateway', main: 'apps/gateway/dist/main.js', url: gatewayUrl, env: { PORT: String(gatewayPort), DEMO_URL: process.env.DEMO_URL || demoUrl, GATEWAY_SHARED_SECRET: gatewaySecret } },
];

for (const app of apps) {
  if (!existsSync(join(root, app.main))) {
    console.error(`start: ${app.main} is missing; run \`npm run build\` first (or use \`npm start\`, which builds)`);
    process.exit(2);
  }
}

let stopping = false;
let failed = false;
const running = new Set();

function prefixLines(stream, out, label) {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${label} ${line}\n`));
}

for (const app of apps) {
  const child = spawn(process.execPath, [app.main], {
    cwd: root,
    env: { ...process.env, ...app.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: Ctrl-C in the terminal reaches only this script, which forwards one signal.
    // A second SIGINT straight from the terminal would cut Nest's graceful shutdown short.
    detached: true,
  });
  app.child = child;
  running.add(app);
  const label = `[${app.name}]`.padEnd(9);
  prefixLines(child.stdout, process.stdout, label);
  prefixLines(child.stderr, process.stderr, label);
  child.on('error', (error) => {
    console.error(`start: could not run ${app.name}: ${error.message}`);
  });
  // 'close' rather than 'exit': the app's last log lines are through the pipes before this script exits.
  child.on('close', (code, signal) => {
    running.delete(app);
    if (!stopping) {
      failed = true;
      console.error(`start: ${app.name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the others`);
      stop('SIGTERM');
    } else if (code !== 0 && code !== null && !failed) {
      failed = true;
      console.error(`start: ${app.name} exited with code ${code} while stopping`);
    } else {
      console.log(`start: ${app.name} stopped${signal ? ` (${signal})` : ''}`);
    }
    if (running.size === 0) process.exit(failed ? 1 : 0);
  });
}

function stop(signal) {
  stopping = true;
  for (const app of running) {
    try {
      app.child.kill(signal);
    } catch {
      // Already gone: its exit event settles the count.
    }
  }
}

let firstSignalAt = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (firstSignalAt === 0) {
      firstSignalAt = Date.now();
      console.log(`\nstart: ${signal} received, stopping demo and gateway (press Ctrl-C again to force)`);
      stop(signal);
    } else if (Date.now() - firstSignalAt > 1_000) {
      // One Ctrl-C arrives twice under `npm start` (from the terminal and relayed by npm); only a
      // later one is a deliberate second press.
      console.log('start: forcing demo and gateway to stop');
      stop('SIGKILL');
    }
  });
}
// The children have their own process group, so nothing else would stop them if this script died.
process.on('exit', () => {
  for (const app of running) {
    try {
      app.child.kill('SIGKILL');
    } catch {
      // Nothing left to stop.
    }
  }
});

async function waitUntilAnswering(app) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (stopping || !running.has(app)) return undefined;
    try {
      const response = await fetch(`${app.url}/`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return await response.json();
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError = error instanceof Error ? (error.cause?.code ?? error.message) : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${app.name} did not answer GET ${app.url}/ within ${READY_TIMEOUT_MS / 1000} s (${lastError})`);
}

try {
  const [demo, gateway] = await Promise.all(apps.map(waitUntilAnswering));
  if (!stopping && demo && gateway) {
    const redisConfigured = Object.entries(process.env).some(([key, value]) => key.startsWith('REDIS_') && value?.trim());
    const redis = demo.redis === 'memory-fallback' && !redisConfigured
      ? 'embedded in-memory store (set REDIS_URL to use Redis)'
      : `redis: ${demo.redis}`;
    console.log(
      [
        '',
        'nestjs-redis-kit is running:',
        `  demo     ${demoUrl}/      ${redis}`,
        `  gateway  ${gatewayUrl}/      upstream ${gateway.upstream}`,
        '',
        'Try:',
        `  curl ${gatewayUrl}/api/trips`,
        `  curl ${gatewayUrl}/api/leaderboard`,
        '  (the README\'s "Walk through the API" goes on from there: login, create a trip, sessions, stream)',
        '',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  }
} catch (error) {
  failed = true;
  console.error(`start: ${error.message}`);
  stop('SIGTERM');
}
