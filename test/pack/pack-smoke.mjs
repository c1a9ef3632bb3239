// What a stranger gets from `npm install nestjs-redis-kit`: packs libs/redis, installs the tarball
// into a fresh Nest 12 app outside the workspace (so nothing resolves through the monorepo's
// node_modules or tsconfig), and boots it on the embedded store and on a real redis-server.
// Plain Node on purpose: it must not depend on the jest/ts-jest setup it is checking behind.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const libDir = join(root, 'libs', 'redis');
const started = Date.now();

// The versions a new Nest 12 project would pick today; kept exact so a failure is reproducible.
const APP_DEPENDENCIES = {
  '@nestjs/common': '12.5.1',
  '@nestjs/core': '12.5.1',
  '@nestjs/platform-express': '12.5.1',
  ioredis: '6.0.0',
  'reflect-metadata': '0.2.2',
  rxjs: '7.8.2',
  'class-validator': '0.15.1',
  'class-transformer': '0.5.1',
};

// The CommonJS consumer also loads the optional peers of the health and metrics subpaths.
const CJS_APP_DEPENDENCIES = { ...APP_DEPENDENCIES, '@nestjs/terminus': '12.1.0', 'prom-client': '15.1.3' };
// ...and those of the socket.io subpath.
Object.assign(CJS_APP_DEPENDENCIES, { '@nestjs/websockets': '12.1.1', '@nestjs/platform-socket.io': '12.1.1', 'socket.io': '4.8.4', '@socket.io/redis-adapter': '8.3.0' });

class StepError extends Error {}

// Under `npm test` the parent npm exports its project and workspace settings; the inner npm
// commands must work on the scratch app alone, never on the monorepo.
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => !/^npm_config_(local_prefix|workspaces?|include_workspace_root)$/i.test(key) && !/^npm_(package|lifecycle)_/i.test(key),
  ),
);

/** Runs a command to completion; the output is kept for the failure message, not streamed. */
function run(command, args, { cwd, timeoutMs, env = process.env }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new StepError(`\`${command} ${args.join(' ')}\` did not finish within ${timeoutMs / 1000} s\n${output}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new StepError(`could not run ${command}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new StepError(`\`${command} ${args.join(' ')}\` failed (${signal ?? `exit code ${code}`})\n${output}`));
    });
  });
}

function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freeLoopbackPort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new StepError(`redis-server not ready within 10 s\n${output}`)), 10_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new StepError(error.code === 'ENOENT' ? 'redis-server is not installed (apt-get install redis-server)' : error.message));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new StepError(`redis-server exited with code ${code}\n${output}`));
    });
    const onData = (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
  return { port, url: `redis://127.0.0.1:${port}`, child };
}

async function stopRedis(redis) {
  if (!redis || redis.child.exitCode !== null || redis.child.signalCode !== null) return;
  const exited = once(redis.child, 'exit');
  redis.child.kill('SIGKILL');
  await exited;
}

// Plain JavaScript as a user without a TypeScript build would write it: decorators applied as
// functions, injection by the exported class, the HTTP platform a new project starts with.
const MAIN_MJS = `import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Controller, Get, Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { RedisConnection, RedisModule } from 'nestjs-redis-kit';

const url = process.argv[2];
const expected = url ? 'connected' : 'memory-fallback';

class StatusController {
  constructor(connection) {
    this.connection = connection;
  }
  status() {
    return { redis: this.connection.status() };
  }
}
Controller()(StatusController);
Inject(RedisConnection)(StatusController, undefined, 0);
Get()(StatusController.prototype, 'status', Object.getOwnPropertyDescriptor(StatusController.prototype, 'status'));

class AppModule {}
Module({ imports: [RedisModule.forRoot(url ? { url } : {})], controllers: [StatusController] })(AppModule);

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
try {
  await app.listen(0, '127.0.0.1');
  const response = await fetch(\`\${await app.getUrl()}/\`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { redis: expected });
  console.log(\`ok GET / reports \${expected}\`);

  const connection = app.get(RedisConnection);
  assert.equal(connection.status(), expected);
  assert.equal(await connection.engine.set('pack-smoke:greeting', 'hello'), true);
  assert.equal(await connection.engine.get('pack-smoke:greeting'), 'hello');
  assert.equal(await connection.engine.incrBy('pack-smoke:count', 2), 2);
  console.log('ok engine set/get/incrBy round-trip');

  if (url) {
    // One ioredis for app and library: the peer dependency resolved to the app's copy.
    assert.ok(connection.client instanceof Redis, 'connection.client is not an instance of the app\\'s ioredis Redis');
    assert.equal(await connection.client.get('pack-smoke:greeting'), 'hello');
    assert.ok((await connection.ping()) >= 0);
    console.log('ok values are in Redis, client is the app\\'s ioredis');
  } else {
    assert.equal(connection.client, null);
  }

  await assert.rejects(import('nestjs-redis-kit/dist/index.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  console.log('ok internals are not importable');
} finally {
  await app.close();
}
assert.equal(app.get(RedisConnection).status(), 'disconnected');
console.log('ok closed cleanly');
`;

// A CommonJS app (`"type": "commonjs"`, plain require) on Node 20.19+, which can require() ESM: the
// exports map must offer a `default` condition, and no module of the library may use top-level
// await (require(esm) refuses those with ERR_REQUIRE_ASYNC_MODULE).
const MAIN_CJS = `'use strict';
require('reflect-metadata');
const assert = require('node:assert/strict');
const { Controller, Get, Inject, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { HealthCheckService, TerminusModule } = require('@nestjs/terminus');
const { Post, Res, UseGuards } = require('@nestjs/common');
const { CurrentUser, RedisConnection, RedisModule, sessionCookie, SessionGuard, SessionService } = require('nestjs-redis-kit');
const { RedisHealthIndicator, RedisHealthModule } = require('nestjs-redis-kit/health');
const { RedisMetricsModule } = require('nestjs-redis-kit/metrics');

const url = process.argv[2];
assert.ok(url, 'usage: node main.cjs <redis url>');

class HealthController {
  constructor(health, redis) {
    this.health = health;
    this.redis = redis;
  }
  check() {
    return this.health.check([() => this.redis.isHealthy('redis')]);
  }
}
Controller('health')(HealthController);
Inject(HealthCheckService)(HealthController, undefined, 0);
Inject(RedisHealthIndicator)(HealthController, undefined, 1);
Get()(HealthController.prototype, 'check', Object.getOwnPropertyDescriptor(HealthController.prototype, 'check'));

class AuthController {
  constructor(sessions) {
    this.sessions = sessions;
  }
  async login(res) {
    sessionCookie(res, await this.sessions.create({ userId: 'cjs-cookie', data: { plan: 'free' } }));
    return { ok: true };
  }
  me(user) {
    return user;
  }
}
Controller('auth')(AuthController);
Inject(SessionService)(AuthController, undefined, 0);
const method = (name) => Object.getOwnPropertyDescriptor(AuthController.prototype, name);
Res({ passthrough: true })(AuthController.prototype, 'login', 0);
Post('login')(AuthController.prototype, 'login', method('login'));
CurrentUser()(AuthController.prototype, 'me', 0);
UseGuards(SessionGuard)(AuthController.prototype, 'me', method('me'));
Get('me')(AuthController.prototype, 'me', method('me'));

class AppModule {}
Module({
  imports: [RedisModule.forRoot({ url }), TerminusModule, RedisHealthModule, RedisMetricsModule.forRoot()],
  controllers: [HealthController, AuthController],
})(AppModule);

async function main() {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  try {
    await app.listen(0, '127.0.0.1');
    const base = await app.getUrl();
    assert.equal(app.get(RedisConnection).status(), 'connected');

    const health = await fetch(base + '/health');
    const body = await health.json();
    assert.equal(health.status, 200, JSON.stringify(body));
    assert.equal(body.info.redis.status, 'up');
    console.log('ok require(): GET /health reports redis up');

    const sessions = app.get(SessionService);
    const tokens = await sessions.create({ userId: 'cjs-user', data: { role: 'member' } });
    const session = await sessions.validate(tokens.sessionId);
    assert.equal(session && session.userId, 'cjs-user');
    console.log('ok require(): session created and validated on Redis (Lua scripts)');

    const login = await fetch(base + '/auth/login', { method: 'POST' });
    assert.equal(login.status, 201);
    const cookie = login.headers.getSetCookie()[0];
    assert.match(cookie, /^sid=[^;]+; Max-Age=[0-9]+; Path=[/]; Secure; HttpOnly; SameSite=Lax$/);
    const me = await fetch(base + '/auth/me', { headers: { cookie: cookie.split(';')[0] } });
    assert.equal(me.status, 200);
    assert.deepEqual(await me.json(), { id: 'cjs-cookie', data: { plan: 'free' } });
    assert.equal((await fetch(base + '/auth/me')).status, 401);
    console.log('ok require(): sessionCookie + SessionGuard + @CurrentUser over HTTP (200 with the cookie, 401 without)');

    const metrics = await fetch(base + '/metrics');
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /^# TYPE redis_kit_/m);
    console.log('ok require(): GET /metrics serves Prometheus text');
  } finally {
    await app.close();
  }
  console.log('ok require(): closed cleanly');
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

// The package README's "Minimal app", as a user copies it, plus a bootstrap that checks what it promises.
function readmeMinimalApp() {
  const readme = readFileSync(join(libDir, 'README.md'), 'utf8');
  const match = /## Minimal app\s+```ts\n([\s\S]*?)```/.exec(readme);
  if (!match) throw new StepError('libs/redis/README.md has no "## Minimal app" TypeScript block');
  return match[1];
}
const MINIMAL_BOOTSTRAP = `
// ---- appended by pack-smoke: boot it and check what the README promises ----
import { NestFactory } from '@nestjs/core';
const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
await app.listen(0, '127.0.0.1');
const base = await app.getUrl();
const first = await (await fetch(base + '/hello')).json();
const second = await (await fetch(base + '/hello')).json();
if (JSON.stringify(first) !== JSON.stringify(second)) throw new Error('GET /hello was not served from the cache');
const statuses: number[] = [];
for (let i = 0; i < 6; i++) statuses.push((await fetch(base + '/login', { method: 'POST' })).status);
if (statuses.join() !== '201,201,201,201,201,429') throw new Error('POST /login statuses ' + statuses.join());
await app.close();
console.log('ok README minimal app: compiled with tsc --strict against the tarball, GET /hello cached, 6th POST /login answers 429');
`;

// TypeScript in a CommonJS package, as \`tsc\` compiles it there (import → require), then run.
const TYPED_CTS = `import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { RedisModule, SessionGuard, type Duration } from 'nestjs-redis-kit';
import { RedisHealthModule } from 'nestjs-redis-kit/health';
import { RedisMetricsModule } from 'nestjs-redis-kit/metrics';
import { RedisIoAdapter, type RedisIoAdapterOptions } from 'nestjs-redis-kit/socket.io';
import { IoAdapter } from '@nestjs/platform-socket.io';

const ttl: Duration = String(process.env.SMOKE_TTL ?? '1m');
@Module({ imports: [RedisModule.forRoot({ cache: { ttl } }), RedisHealthModule.forRoot({ embedded: 'up' }), RedisMetricsModule.forRoot()], providers: [SessionGuard] })
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const ioOptions: RedisIoAdapterOptions = { authenticate: { cookieName: 'sid' }, revalidateEvery: '30s' };
  // The adapter extends the app's own @nestjs/platform-socket.io (the peer resolved to the app's copy).
  if (!(new RedisIoAdapter(app, ioOptions) instanceof IoAdapter)) throw new Error('RedisIoAdapter does not extend the IoAdapter of the app');
  await app.close();
  console.log('ok TypeScript compiled as CommonJS (module nodenext) imports every entry point and boots');
}
void main();
`;

// require() of the health subpath in an app without the optional peer: the error must name it.
const MISSING_PEER_CJS = `'use strict';
const assert = require('node:assert/strict');
let message = '';
assert.throws(() => require('nestjs-redis-kit/health'), (error) => {
  message = String(error.message).split('\\n')[0];
  assert.match(message, /@nestjs\\/terminus/);
  return true;
});
console.log('ok the error reads: ' + message.replace(/ imported from .*/, ' imported from …'));
const { RedisModule } = require('nestjs-redis-kit');
assert.equal(typeof RedisModule.forRoot, 'function');
console.log('ok require("nestjs-redis-kit/health") without @nestjs/terminus names the missing package; the main entry still loads');
assert.throws(() => require('nestjs-redis-kit/socket.io'), (error) => {
  assert.match(String(error.message).split('\\n')[0], /@nestjs\\/platform-socket\\.io|@nestjs\\/websockets|socket\\.io/);
  return true;
});
console.log('ok require("nestjs-redis-kit/socket.io") without the Socket.IO packages names a missing one');
`;

// An app bundled into one file with esbuild (the library included): nothing may be read from disk
// next to the library's modules at import time (the Lua scripts are inlined at build time). The
// bundle runs from a directory with no node_modules at all.
const BUNDLE_ENTRY = `import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { RedisConnection, RedisModule, SessionService } from 'nestjs-redis-kit';

const url = process.argv[2];
class AppModule {}
Module({ imports: [RedisModule.forRoot({ url, keyPrefix: 'bundle:' })] })(AppModule);

const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
try {
  assert.equal(app.get(RedisConnection).status(), 'connected');
  const sessions = app.get(SessionService);
  const tokens = await sessions.create({ userId: 'bundled-user' });
  assert.equal((await sessions.validate(tokens.sessionId))?.userId, 'bundled-user');
  const probe = new Redis(url);
  const keys = await probe.keys('bundle:sess:*');
  assert.ok(keys.length > 0, 'the session scripts wrote nothing to Redis');
  assert.equal(await sessions.revoke(tokens.sessionId), true);
  assert.equal(await sessions.validate(tokens.sessionId), null);
  await probe.quit();
  console.log('ok bundle: session create/validate/revoke ran as Lua on Redis (' + keys.length + ' keys under bundle:sess:)');
} finally {
  await app.close();
}
console.log('ok bundle: closed cleanly');
`;

// Packages Nest loads only when present (microservices, websockets, GraphQL...): left out of the bundle.
const BUNDLE_EXTERNALS = ['@nestjs/microservices', '@nestjs/websockets', '@nestjs/platform-express', 'class-transformer/storage', '@fastify/*'];

function listLua(dir, base = dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listLua(path, base));
    else if (entry.name.endsWith('.lua')) found.push(relative(base, path).split('\\').join('/'));
  }
  return found.sort();
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'nrk-pack-smoke-'));
  let redis;
  const log = (line) => console.log(`pack-smoke: ${line}`);
  try {
    log('npm pack libs/redis (builds the library)');
    await run('npm', ['pack', '--pack-destination', work], { cwd: libDir, env: npmEnv, timeoutMs: 180_000 });
    const tarballs = readdirSync(work).filter((name) => name.endsWith('.tgz'));
    if (tarballs.length !== 1) throw new StepError(`expected one tarball in ${work}, found ${tarballs.join(', ') || 'none'}`);
    const tarball = join(work, tarballs[0]);

    const entries = (await run('tar', ['-tzf', tarball], { timeoutMs: 30_000 })).split('\n').filter(Boolean);
    const missing = ['package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts'].filter((e) => !entries.includes(e));
    // The Lua scripts are inlined into dist/engine/lua.generated.js at build time: every one must be there.
    missing.push(...['package/dist/engine/lua.generated.js', 'package/LICENSE', 'package/CHANGELOG.md', 'package/README.md'].filter((e) => !entries.includes(e)));
    if (missing.length > 0) throw new StepError(`the tarball lacks ${missing.join(', ')}`);
    const expectedLua = listLua(join(libDir, 'src', 'engine', 'scripts'));
    if (expectedLua.length === 0) throw new StepError('no *.lua under libs/redis/src/engine/scripts; the check below would prove nothing');
    const generated = await run('tar', ['-xzOf', tarball, 'package/dist/engine/lua.generated.js'], { timeoutMs: 30_000 });
    const notInlined = expectedLua.filter((rel) => !generated.includes(JSON.stringify(rel)));
    if (notInlined.length > 0) throw new StepError(`dist/engine/lua.generated.js lacks ${notInlined.join(', ')}`);
    const leaked = entries.filter((e) => /\.spec\.|^package\/(src|test)\//.test(e));
    if (leaked.length > 0) throw new StepError(`the tarball ships sources or tests: ${leaked.slice(0, 5).join(', ')}`);
    log(`tarball ${tarballs[0]}: ${entries.length} files, ${expectedLua.length} Lua scripts inlined in dist/engine/lua.generated.js`);

    /** A fresh app outside the workspace with the tarball and `dependencies` installed, and its entry file. */
    const scratchApp = async (name, type, dependencies, entry, text) => {
      const dir = join(work, name);
      mkdirSync(dir);
      const manifest = { name: `pack-smoke-${name}`, private: true, type, dependencies: { 'nestjs-redis-kit': `file:${tarball}`, ...dependencies } };
      writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      writeFileSync(join(dir, entry), text);
      log(`npm install in ${dir} (a "type": "${type}" app)`);
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, env: npmEnv, timeoutMs: 300_000 });
      return dir;
    };
    const app = await scratchApp('app', 'module', APP_DEPENDENCIES, 'main.mjs', MAIN_MJS);

    // The scratch app configures Redis in code; variables from the caller's shell must not leak in.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REDIS_') && key !== 'NODE_OPTIONS'));
    log('boot on the embedded store');
    process.stdout.write(indent(await run(process.execPath, ['main.mjs'], { cwd: app, env, timeoutMs: 60_000 })));

    redis = await startRedis();
    log(`boot on redis-server ${redis.url}`);
    process.stdout.write(indent(await run(process.execPath, ['main.mjs', redis.url], { cwd: app, env, timeoutMs: 60_000 })));

    const minimal = readmeMinimalApp();
    log(`README minimal app (${minimal.trimEnd().split('\n').length} lines): tsc --strict against the tarball's types, then boot on redis-server`);
    writeFileSync(join(app, 'minimal.mts'), minimal + MINIMAL_BOOTSTRAP);
    await run(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), 'minimal.mts', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
        '--experimentalDecorators', '--emitDecoratorMetadata', '--skipLibCheck', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), '--outDir', '.'],
      { cwd: app, timeoutMs: 120_000 },
    );
    process.stdout.write(indent(await run(process.execPath, ['minimal.mjs'], { cwd: app, env: { ...env, REDIS_URL: redis.url }, timeoutMs: 60_000 })));

    log('require() of the health subpath without @nestjs/terminus');
    writeFileSync(join(app, 'missing-peer.cjs'), MISSING_PEER_CJS);
    process.stdout.write(indent(await run(process.execPath, ['missing-peer.cjs'], { cwd: app, env, timeoutMs: 60_000 })));

    log('esbuild bundle of an app importing the library, run without node_modules');
    writeFileSync(join(app, 'bundle-entry.mjs'), BUNDLE_ENTRY);
    const bundleDir = join(work, 'bundled');
    mkdirSync(bundleDir);
    const { build } = await import('esbuild');
    const bundled = await build({
      entryPoints: [join(app, 'bundle-entry.mjs')],
      absWorkingDir: app,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: join(bundleDir, 'app.mjs'),
      // Nest's optional integrations, loaded only if installed; a real app bundles them the same way.
      external: BUNDLE_EXTERNALS,
      // Bundled CommonJS dependencies call require(): give the ESM bundle one.
      banner: { js: "import { createRequire as __nrkCreateRequire } from 'node:module'; const require = __nrkCreateRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    if (bundled.errors.length > 0) throw new StepError(`esbuild failed: ${bundled.errors.map((e) => e.text).join('; ')}`);
    process.stdout.write(indent(await run(process.execPath, ['app.mjs', redis.url], { cwd: bundleDir, env, timeoutMs: 60_000 })));

    const cjsApp = await scratchApp('cjs-app', 'commonjs', CJS_APP_DEPENDENCIES, 'main.cjs', MAIN_CJS);
    log('CommonJS app: TypeScript compiled to require() by tsc');
    writeFileSync(join(cjsApp, 'typed.cts'), TYPED_CTS);
    await run(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), 'typed.cts', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
        '--experimentalDecorators', '--emitDecoratorMetadata', '--skipLibCheck', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), '--outDir', '.'],
      { cwd: cjsApp, timeoutMs: 120_000 },
    );
    process.stdout.write(indent(await run(process.execPath, ['typed.cjs'], { cwd: cjsApp, env, timeoutMs: 60_000 })));
    log('CommonJS app: require() the library, /health and /metrics, boot on redis-server');
    process.stdout.write(indent(await run(process.execPath, ['main.cjs', redis.url], { cwd: cjsApp, env, timeoutMs: 60_000 })));
  } finally {
    await stopRedis(redis);
    rmSync(work, { recursive: true, force: true });
  }
}

function indent(text) {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => `    ${line}\n`)
    .join('');
}

try {
  await main();
  console.log(`pack-smoke: PASS (${((Date.now() - started) / 1000).toFixed(1)} s)`);
} catch (error) {
  console.error(`pack-smoke: FAIL: ${error instanceof StepError ? error.message : error?.stack ?? error}`);
  process.exitCode = 1;
}
