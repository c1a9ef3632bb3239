import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { connect as netConnect } from 'node:net';
import { Server } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import { freePort, waitUntil } from '@nestjs-redis-kit/test-support';
import { SocketIoProxy } from '../../apps/gateway/src/proxy/socket-io.proxy.js';
import { bootGateway, clearAppEnv, setEnv, snapshotEnv, type Running } from './e2e.fixture.js';

/**
 * The gateway's Socket.IO proxy on its own, in front of plain Socket.IO servers that echo and report
 * what they saw, so each transport path and failure is checked without the demo's chat around it.
 */
interface Upstream {
  name: string;
  url: string;
  http: HttpServer;
  io: Server;
  /** Handshake headers of every connection this upstream accepted. */
  handshakes: IncomingHttpHeaders[];
  disconnects: string[];
}

async function startUpstream(name: string): Promise<Upstream> {
  const http = createServer();
  const server = new Server(http, { maxHttpBufferSize: 1_000_000 });
  const upstream: Upstream = { name, url: '', http, io: server, handshakes: [], disconnects: [] };
  server.on('connection', (socket) => {
    upstream.handshakes.push(socket.handshake.headers);
    socket.on('echo', (payload: unknown, ack?: (reply: unknown) => void) => ack?.({ from: name, payload }));
    socket.on('disconnect', (reason) => upstream.disconnects.push(reason));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address() as { port: number };
  upstream.url = `http://127.0.0.1:${address.port}`;
  return upstream;
}

async function stopUpstream(upstream: Upstream): Promise<void> {
  upstream.io.disconnectSockets(true);
  await new Promise<void>((resolve) => upstream.io.close(() => resolve()));
}

function connectClient(url: string, options: Parameters<typeof io>[1] = {}): ClientSocket {
  return io(url, { reconnection: false, forceNew: true, timeout: 10_000, ...options });
}

function connected(socket: ClientSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve();
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => reject(error));
  });
}

/** The raw answer to an upgrade request: status line and headers. */
function rawUpgrade(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url + path, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '', headers: res.headers });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('gateway: Socket.IO proxied to the upstream (polling and WebSocket)', () => {
  const restoreEnv = snapshotEnv();
  let one: Upstream, two: Upstream;
  let gateway: Running, pair: Running;
  const clients: ClientSocket[] = [];
  const client = (url: string, options?: Parameters<typeof io>[1]): ClientSocket => {
    const socket = connectClient(url, options);
    clients.push(socket);
    return socket;
  };

  beforeAll(async () => {
    clearAppEnv();
    setEnv({ GATEWAY_RATE_LIMIT: '100000', GATEWAY_WS_UPGRADES_PER_MINUTE: '1000' });
    one = await startUpstream('one');
    two = await startUpstream('two');
    gateway = await bootGateway([one.url]);
    pair = await bootGateway([one.url, two.url]);
  });

  afterEach(() => {
    for (const socket of clients.splice(0)) socket.disconnect();
  });

  afterAll(async () => {
    await gateway?.app.close();
    await pair?.app.close();
    await stopUpstream(one);
    await stopUpstream(two);
    restoreEnv();
  });

  it.each([
    ['polling only', ['polling']],
    ['websocket only', ['websocket']],
    ['polling, then upgraded to websocket', ['polling', 'websocket']],
  ] as const)('a client connects and exchanges messages through the gateway: %s', async (_name, transports) => {
    const socket = client(gateway.url, { transports: [...transports] });
    await connected(socket);
    if (transports.length === 2) {
      await waitUntil(() => socket.io.engine.transport.name === 'websocket', { timeoutMs: 10_000, what: 'the upgrade to websocket' });
    }
    expect(socket.io.engine.transport.name).toBe(transports[transports.length - 1]);
    const reply = await socket.timeout(10_000).emitWithAck('echo', { hello: 'through the gateway' });
    expect(reply).toEqual({ from: 'one', payload: { hello: 'through the gateway' } });
  });

  it('identity headers a client sends never reach the upstream; cookies and forwarding headers do', async () => {
    const socket = client(gateway.url, {
      transports: ['polling'],
      extraHeaders: { 'x-user-id': 'alice', 'x-user-role': 'admin', 'x-gateway-auth': 'guessed', cookie: 'demo_session=abc' },
    });
    await connected(socket);
    const seen = one.handshakes[one.handshakes.length - 1]!;
    expect(seen['x-user-id']).toBeUndefined();
    expect(seen['x-user-role']).toBeUndefined();
    expect(seen['x-gateway-auth']).toBeUndefined();
    expect(seen.cookie).toBe('demo_session=abc');
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('with two upstreams, every polling request of a session reaches the instance that created it', async () => {
    const sockets = [0, 1, 2, 3].map(() => client(pair.url, { transports: ['polling'] }));
    await Promise.all(sockets.map(connected));
    const replies = await Promise.all(sockets.map(async (s) => {
      const answers: string[] = [];
      for (let i = 0; i < 5; i++) answers.push(((await s.timeout(10_000).emitWithAck('echo', i)) as { from: string }).from);
      return answers;
    }));
    // Round robin spread the handshakes over both; each session stayed on its own instance.
    expect(new Set(replies.map((r) => r[0]))).toEqual(new Set(['one', 'two']));
    for (const answers of replies) expect(new Set(answers).size).toBe(1);
  });

  it('with two upstreams, a polling session upgrades to websocket on its own instance', async () => {
    const sockets = [0, 1].map(() => client(pair.url, { transports: ['polling', 'websocket'] }));
    await Promise.all(sockets.map(connected));
    for (const s of sockets) await waitUntil(() => s.io.engine.transport.name === 'websocket', { timeoutMs: 10_000, what: 'the upgrade' });
    const froms = await Promise.all(sockets.map(async (s) => ((await s.timeout(10_000).emitWithAck('echo', 'x')) as { from: string }).from));
    expect(new Set(froms)).toEqual(new Set(['one', 'two']));
  });

  it('a polling session begun on one gateway is routed right by another with the same upstreams, by its cookie', async () => {
    const other = await bootGateway([one.url, two.url]);
    try {
      const handshake = await fetch(`${pair.url}/socket.io/?EIO=4&transport=polling`);
      expect(handshake.status).toBe(200);
      const sid = /"sid":"([^"]+)"/.exec(await handshake.text())![1]!;
      const cookie = handshake.headers.getSetCookie().find((c) => c.startsWith('io_upstream='))!;
      expect(cookie).toMatch(/^io_upstream=[\w-]{12}; Path=\/socket\.io\/; HttpOnly; SameSite=Lax$/);
      const post = (headers: Record<string, string>) =>
        fetch(`${other.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers }, body: '3' });
      // Without the cookie the other gateway spreads the requests: some reach the wrong instance.
      const blind = await Promise.all([0, 1, 2, 3].map(() => post({}).then((r) => r.status)));
      expect(blind).toContain(400);
      const withCookie: number[] = [];
      for (let i = 0; i < 6; i++) withCookie.push((await post({ cookie: cookie.split(';')[0]! })).status);
      expect(withCookie).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      await other.app.close();
    }
  });

  it('large frames pass through both ways; one over the upstream limit closes only that socket', async () => {
    const proxy = gateway.app.get(SocketIoProxy);
    const socket = client(gateway.url, { transports: ['websocket'] });
    await connected(socket);
    const big = 'x'.repeat(900_000);
    const reply = (await socket.timeout(20_000).emitWithAck('echo', big)) as { payload: string };
    expect(reply.payload).toHaveLength(big.length);

    const closed = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
    socket.emit('echo', 'y'.repeat(1_200_000));
    expect(await closed).toBe('transport close');
    await waitUntil(() => proxy.openWebSockets === 0, { timeoutMs: 10_000, what: 'the tunnel to close' });

    const again = client(gateway.url, { transports: ['websocket'] });
    await connected(again);
    expect(await again.timeout(10_000).emitWithAck('echo', 'still here')).toEqual({ from: 'one', payload: 'still here' });
  });

  it('a client closing mid-session closes the upstream side too (no leaked tunnel)', async () => {
    const proxy = gateway.app.get(SocketIoProxy);
    const before = one.disconnects.length;
    const socket = client(gateway.url, { transports: ['websocket'] });
    await connected(socket);
    expect(proxy.openWebSockets).toBe(1);
    // Not a polite Socket.IO disconnect: the TCP connection just goes away.
    (socket.io.engine.transport as unknown as { ws: { _socket: { destroy(): void } } }).ws._socket.destroy();
    await waitUntil(() => one.disconnects.length > before, { timeoutMs: 60_000, what: 'the upstream to see the socket go' });
    await waitUntil(() => proxy.openWebSockets === 0, { timeoutMs: 10_000, what: 'the tunnel to close' });
  });

  it('a client that drops its upgrade before the upstream answers leaves nothing open', async () => {
    const proxy = gateway.app.get(SocketIoProxy);
    const port = Number(new URL(gateway.url).port);
    for (let i = 0; i < 5; i++) {
      const socket = netConnect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      socket.destroy();
    }
    await waitUntil(() => proxy.openWebSockets === 0, { timeoutMs: 10_000, what: 'no open tunnel' });
    const socket = client(gateway.url, { transports: ['websocket'] });
    await connected(socket);
  });

  it('upgrades on other paths get 404; the gateway has no other WebSocket', async () => {
    expect((await rawUpgrade(gateway.url, '/api/trips')).status).toBe(404);
  });

  it('a polling body the gateway would have to re-encode (JSON, parsed on arrival) is refused with 415, not forwarded altered', async () => {
    const socket = client(gateway.url, { transports: ['polling'] });
    await connected(socket);
    const sid = socket.io.engine.id;
    const response = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { message: string }).message).toBe('Socket.IO polling bodies are text/plain or application/octet-stream');
    // The session itself is untouched.
    expect(await socket.timeout(10_000).emitWithAck('echo', 'ok')).toEqual({ from: 'one', payload: 'ok' });
  });

  it('limits: upgrades per address per minute (429 with Retry-After), and open WebSockets in number (503)', async () => {
    setEnv({ GATEWAY_WS_UPGRADES_PER_MINUTE: '2', GATEWAY_WS_MAX_CONNECTIONS: '1' });
    const strict = await bootGateway([one.url]);
    setEnv({ GATEWAY_WS_UPGRADES_PER_MINUTE: '1000', GATEWAY_WS_MAX_CONNECTIONS: undefined });
    try {
      const first = client(strict.url, { transports: ['websocket'] });
      await connected(first);
      // One tunnel is open: the next upgrade is refused before it counts against the budget.
      const full = await rawUpgrade(strict.url, '/socket.io/?EIO=4&transport=websocket');
      expect(full.status).toBe(503);
      expect(JSON.parse(full.body)).toMatchObject({ statusCode: 503, message: 'too many open WebSockets; retry later' });
      first.disconnect();
      await waitUntil(() => strict.app.get(SocketIoProxy).openWebSockets === 0, { timeoutMs: 10_000, what: 'the tunnel to close' });
      const second = client(strict.url, { transports: ['websocket'] });
      await connected(second);
      second.disconnect();
      await waitUntil(() => strict.app.get(SocketIoProxy).openWebSockets === 0, { timeoutMs: 10_000, what: 'the tunnel to close' });
      const third = await rawUpgrade(strict.url, '/socket.io/?EIO=4&transport=websocket');
      expect(third.status).toBe(429);
      expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(third.body).message).toMatch(/too many WebSocket upgrades; retry in \d+ s/);
    } finally {
      await strict.app.close();
    }
  });

  it('upstream down: the client gets a clean error on both transports, the gateway keeps serving', async () => {
    const downPort = await freePort();
    const down = await bootGateway([`http://127.0.0.1:${downPort}`]);
    try {
      const proxy = down.app.get(SocketIoProxy);
      for (const transports of [['polling'], ['websocket']]) {
        const socket = client(down.url, { transports });
        await expect(connected(socket)).rejects.toThrow();
      }
      expect((await rawUpgrade(down.url, '/socket.io/?EIO=4&transport=websocket')).status).toBe(502);
      const polling = await fetch(`${down.url}/socket.io/?EIO=4&transport=polling`);
      expect(polling.status).toBe(502);
      expect(await polling.json()).toMatchObject({ statusCode: 502, message: 'the upstream did not answer' });
      expect(proxy.openWebSockets).toBe(0);
      // The gateway itself is fine.
      expect((await fetch(`${down.url}/health/live`)).status).toBe(200);
    } finally {
      await down.app.close();
    }
  });

  it('an upstream going away mid-session disconnects its clients, and the gateway closes the tunnels', async () => {
    const spare = await startUpstream('spare');
    const front = await bootGateway([spare.url]);
    try {
      const proxy = front.app.get(SocketIoProxy);
      const socket = client(front.url, { transports: ['websocket'] });
      await connected(socket);
      const gone = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
      // Abrupt: the upstream's TCP connections are destroyed, no Socket.IO close packet.
      spare.io.engine.close();
      spare.http.closeAllConnections();
      expect(await gone).toBe('transport close');
      await waitUntil(() => proxy.openWebSockets === 0, { timeoutMs: 10_000, what: 'the tunnel to close' });
    } finally {
      await front.app.close();
      await stopUpstream(spare);
    }
  });

  it('stopping the gateway closes its open WebSockets and long polls instead of waiting for the clients', async () => {
    const front = await bootGateway([one.url]);
    const ws = client(front.url, { transports: ['websocket'] });
    const polling = client(front.url, { transports: ['polling'] });
    await Promise.all([connected(ws), connected(polling)]);
    const gone = [ws, polling].map((s) => new Promise<string>((resolve) => s.once('disconnect', (reason) => resolve(reason))));
    // A polling client always has a long poll open at the upstream; the websocket a tunnel.
    await front.app.close();
    // The websocket sees its connection close; the poll in flight fails.
    expect(await Promise.all(gone)).toEqual(['transport close', 'transport error']);
  });
});
