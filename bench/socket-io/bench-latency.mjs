// Socket.IO across instances: how long a broadcast on instance A takes to reach a client of
// instance B (p50/p99 over --messages broadcasts, one in flight), and how many broadcasts per
// second instance B relays to its client when A sends as fast as it can. Both with the library's
// RedisIoAdapter and with the anchor, Nest's IoAdapter with a plain @socket.io/redis-adapter on raw
// ioredis clients (the usual recipe), side by side against one local redis-server, medians of
// --rounds rounds; ratios are library / anchor (latency: lower is better; throughput: higher).
// Everything (two apps per setup and their clients) runs in this one process on 127.0.0.1.
// Usage (from the repository root, against the workspace build):
//   npm run build -w nestjs-redis-kit && node bench/socket-io/bench-latency.mjs [-- --messages 10000 --burst 20000 --rounds 3]
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { io } from 'socket.io-client';
import { RedisModule } from '../../libs/redis/dist/index.js';
import { RedisIoAdapter } from '../../libs/redis/dist/socket-io/index.js';
import { startRedisServer } from '../support.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg('messages', 10_000);
const BURST = arg('burst', 20_000);
const ROUNDS = arg('rounds', 3);
// Broadcasts A emits per turn of the event loop in the throughput run (so sockets get to write).
const CHUNK = 500;

class Gateway {
  server;
}
WebSocketGateway()(Gateway);
WebSocketServer()(Gateway.prototype, 'server');

/** The anchor: the adapter as most apps write it, on raw ioredis clients. */
class PlainRedisIoAdapter extends IoAdapter {
  constructor(app, url) {
    super(app);
    this.clients = [new Redis(url), new Redis(url)];
  }
  createIOServer(port, options) {
    const server = super.createIOServer(port, options);
    server.adapter(createAdapter(this.clients[0], this.clients[1], { key: 'anchor-socket.io' }));
    return server;
  }
  async dispose() {
    await Promise.all(this.clients.map((c) => c.quit()));
  }
}

async function instance(url, kind) {
  class AppModule {}
  Module({ imports: [RedisModule.forRoot({ url, keyPrefix: 'bench-io:' })], providers: [Gateway] })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.useWebSocketAdapter(kind === 'library' ? new RedisIoAdapter(app) : new PlainRedisIoAdapter(app, url));
  await app.listen(0, '127.0.0.1');
  return { app, server: app.get(Gateway).server, url: `http://127.0.0.1:${app.getHttpServer().address().port}` };
}

function client(url) {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** Waits until a broadcast from `a` reaches `socket` (the subscriptions are up). */
async function warm(a, socket) {
  let got = false;
  socket.on('warm', () => (got = true));
  for (let i = 0; i < 200 && !got; i++) {
    a.server.emit('warm', i);
    await new Promise((r) => setTimeout(r, 25));
  }
  socket.off('warm');
  if (!got) throw new Error('broadcasts never reached the other instance');
}

async function latency(a, socket, n) {
  const samples = new Float64Array(n);
  let resolveOne;
  socket.on('lat', (sentAt) => resolveOne(performance.now() - sentAt));
  for (let i = 0; i < n; i++) {
    const arrived = new Promise((r) => (resolveOne = r));
    a.server.emit('lat', performance.now());
    samples[i] = await arrived;
  }
  socket.off('lat');
  samples.sort();
  const at = (q) => samples[Math.min(n - 1, Math.floor(q * n))];
  return { p50: at(0.5), p99: at(0.99) };
}

async function throughput(a, socket, n) {
  let received = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  socket.on('burst', () => {
    if (++received === n) done(performance.now());
  });
  const started = performance.now();
  for (let i = 0; i < n; i += CHUNK) {
    for (let j = i; j < Math.min(n, i + CHUNK); j++) a.server.emit('burst', j);
    await new Promise((r) => setImmediate(r));
  }
  let timer;
  const ended = await Promise.race([finished, new Promise((r) => (timer = setTimeout(() => r(null), 60_000)))]);
  clearTimeout(timer);
  socket.off('burst');
  if (ended === null) throw new Error(`only ${received} of ${n} broadcasts arrived within 60 s`);
  return n / ((ended - started) / 1000);
}

async function round(url, kind) {
  const a = await instance(url, kind);
  const b = await instance(url, kind);
  const socket = await client(b.url);
  try {
    await warm(a, socket);
    const lat = await latency(a, socket, MESSAGES);
    const rate = await throughput(a, socket, BURST);
    return { ...lat, rate };
  } finally {
    socket.disconnect();
    await a.app.close();
    await b.app.close();
  }
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const redis = await startRedisServer();
try {
  const results = { library: [], anchor: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // Alternated, so drift on a shared machine hits both alike.
    for (const kind of r % 2 ? ['anchor', 'library'] : ['library', 'anchor']) results[kind].push(await round(redis.url, kind));
  }
  const row = (kind) => ({ p50: median(results[kind].map((x) => x.p50)), p99: median(results[kind].map((x) => x.p99)), rate: median(results[kind].map((x) => x.rate)) });
  const lib = row('library');
  const anchor = row('anchor');
  console.log(`\n### Socket.IO broadcast A → client of B, medians of ${ROUNDS} rounds; ${MESSAGES} messages for latency, ${BURST} for throughput; one local redis-server, Node ${process.version}\n`);
  console.log('| setup | p50 ms | p99 ms | relayed msg/s |');
  console.log('|---|---|---|---|');
  console.log(`| RedisIoAdapter (nestjs-redis-kit) | ${lib.p50.toFixed(3)} | ${lib.p99.toFixed(3)} | ${Math.round(lib.rate)} |`);
  console.log(`| IoAdapter + @socket.io/redis-adapter on raw ioredis | ${anchor.p50.toFixed(3)} | ${anchor.p99.toFixed(3)} | ${Math.round(anchor.rate)} |`);
  console.log(`| ratio library / anchor | ${(lib.p50 / anchor.p50).toFixed(2)} | ${(lib.p99 / anchor.p99).toFixed(2)} | ${(lib.rate / anchor.rate).toFixed(2)} |`);
} finally {
  await redis.stop();
}
