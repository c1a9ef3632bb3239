import { request as httpRequest, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ConfigService } from '@nestjs/config';
import { RateLimiter } from 'nestjs-redis-kit';
import { EdgeAuthMiddleware, type EdgeRequest } from '../edge-auth/edge-auth.middleware.js';
import { UPSTREAM_URLS } from '../upstream.config.js';
import { IDENTITY_HEADERS } from './proxy.service.js';

/** Socket.IO's default path, the same on the gateway and on the demo. */
export const SOCKET_IO_PATH = '/socket.io/';

// Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are not forwarded as they are.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate'];

/** Names the upstream a Socket.IO session lives on, for gateways that did not see its handshake. */
export const STICKY_COOKIE = 'io_upstream';

/** How long a polling session is remembered without a request (Socket.IO polls at least every pingInterval, 25 s). */
const STICKY_IDLE_MS = 90_000;
const STICKY_MAX_ENTRIES = 50_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** The handshake answer is small (`0{"sid":…}`); a bigger one is passed through without reading a session id. */
const HANDSHAKE_MAX_BYTES = 4_096;

type ProxiedRequest = IncomingMessage & EdgeRequest;

interface Sticky {
  upstream: string;
  seenAt: number;
}

function intFrom(config: ConfigService, name: string, fallback: number, min: number): number {
  const raw = config.get<string>(name)?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

/** True for `/socket.io` and anything under `/socket.io/`. */
export function isSocketIoPath(url: string | undefined): boolean {
  const path = (url ?? '').split('?', 1)[0]!;
  return path === '/socket.io' || path.startsWith(SOCKET_IO_PATH);
}

/**
 * Socket.IO through the gateway: the HTTP long-polling requests and the WebSocket upgrade, piped to
 * a demo instance as they are (no frame is parsed or re-encoded, so frame size is the demo's
 * `maxHttpBufferSize` to enforce). The demo authenticates the socket itself (session cookie or
 * `auth.token`); the gateway still refuses a Bearer session it knows to be revoked, drops identity
 * headers a client made up, and limits upgrades per user or address and in number.
 *
 * With several upstreams, a polling session must keep reaching the instance that created it: the
 * handshake's session id is remembered here and later requests carrying it (`sid=`) go to the same
 * instance. The handshake answer also sets the `io_upstream` cookie naming that instance, so a
 * client that keeps cookies (browsers) is routed right by any gateway with the same DEMO_URL list;
 * WebSocket-only clients need neither.
 */
@Injectable()
export class SocketIoProxy implements OnApplicationBootstrap, BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger('SocketIoProxy');
  private readonly sticky = new Map<string, Sticky>();
  /** Both ends of every open proxied WebSocket, and every polling request in flight: closed on shutdown. */
  private readonly open = new Set<Duplex | ClientRequest>();
  private tunnels = 0;
  private next = 0;
  private readonly maxSockets: number;
  private readonly upgradesPerMinute: number;
  private readonly trustProxy: number;
  private readonly sweep: NodeJS.Timeout;

  constructor(
    @Inject(UPSTREAM_URLS) private readonly upstreams: string[],
    private readonly edgeAuth: EdgeAuthMiddleware,
    private readonly limiter: RateLimiter,
    private readonly adapterHost: HttpAdapterHost,
    config: ConfigService,
  ) {
    this.maxSockets = intFrom(config, 'GATEWAY_WS_MAX_CONNECTIONS', 10_000, 1);
    this.upgradesPerMinute = intFrom(config, 'GATEWAY_WS_UPGRADES_PER_MINUTE', 60, 1);
    this.trustProxy = intFrom(config, 'GATEWAY_TRUST_PROXY', 0, 0);
    this.sweep = setInterval(() => this.forgetIdle(), 30_000).unref();
  }

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as import('node:http').Server | undefined;
    server?.on('upgrade', (req: ProxiedRequest, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  /** Open proxied WebSockets (for the status page and tests). */
  get openWebSockets(): number {
    return this.tunnels;
  }

  /** A polling request (`GET`/`POST /socket.io/?EIO=4&transport=polling…`), after edge auth and the rate limit. */
  forward(req: ProxiedRequest, res: ServerResponse): void {
    const sid = sessionIdOf(req.url);
    const upstream = this.upstreamFor(sid, req.headers.cookie);
    // Nest parses JSON and form bodies; Socket.IO sends text/plain or octet-stream, which stay unread.
    if (req.readableEnded && req.method === 'POST') {
      return json(res, 415, 'Unsupported Media Type', 'Socket.IO polling bodies are text/plain or application/octet-stream');
    }
    const handshake = sid === undefined && req.method === 'GET';
    const headers = this.upstreamHeaders(req, upstream);
    // The handshake answer is read for its session id: ask for it uncompressed.
    if (handshake) delete headers['accept-encoding'];
    const upstreamReq = send(upstream, req.url!, req.method!, headers);
    this.open.add(upstreamReq);
    upstreamReq.setTimeout(CONNECT_TIMEOUT_MS, () => upstreamReq.destroy(new Error('connect timeout')));
    upstreamReq.on('socket', (socket) => socket.once('connect', () => upstreamReq.setTimeout(0)));
    upstreamReq.on('response', (upstreamRes) => {
      upstreamReq.setTimeout(0);
      if (handshake && upstreamRes.statusCode === 200) return this.readHandshake(upstream, upstreamRes, res);
      res.writeHead(upstreamRes.statusCode ?? 502, withoutHopByHop(upstreamRes.headers));
      upstreamRes.pipe(res);
    });
    upstreamReq.on('error', (error) => {
      this.logger.warn(`Socket.IO upstream request failed: ${error.message}`);
      if (res.headersSent) return void res.destroy();
      json(res, 502, 'Bad Gateway', 'the upstream did not answer');
    });
    upstreamReq.on('close', () => this.open.delete(upstreamReq));
    // The client went away mid-request (a long poll it gave up on): so does the upstream request.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    if (sid !== undefined) this.touch(sid);
    if (req.readableEnded) upstreamReq.end();
    else req.pipe(upstreamReq);
  }

  /** The HTTP server's `upgrade` event. Anything but Socket.IO's path is refused: the gateway has no other WebSocket. */
  upgrade(req: ProxiedRequest, client: Duplex, head: Buffer): void {
    // A client resetting the connection must not become an uncaught error.
    client.on('error', () => client.destroy());
    if (!isSocketIoPath(req.url)) return refuse(client, 404, 'no WebSocket at this path');
    if (this.tunnels >= this.maxSockets) return refuse(client, 503, 'too many open WebSockets; retry later');
    this.admit(req)
      .then((refusal) => {
        if (refusal) return refuse(client, refusal.status, refusal.message, refusal.headers);
        if (client.destroyed) return;
        this.tunnel(req, client, head);
      })
      .catch((error: unknown) => {
        this.logger.warn(`WebSocket upgrade failed: ${error instanceof Error ? error.message : String(error)}`);
        refuse(client, 500, 'the upgrade could not be checked');
      });
  }

  beforeApplicationShutdown(): void {
    // An upgraded socket or a long poll would keep the server's close waiting until the client leaves.
    for (const end of this.open) end.destroy();
    this.open.clear();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweep);
  }

  /** Edge auth (a revoked Bearer is refused here) and the upgrade budget; undefined = let it through. */
  private async admit(req: ProxiedRequest): Promise<{ status: number; message: string; headers?: Record<string, string> } | undefined> {
    await new Promise<void>((resolve, reject) => this.edgeAuth.use(req, undefined, (error?: unknown) => (error ? reject(error) : resolve())));
    if (req.edgeAuthRejected) return { status: 401, message: 'the session is not valid (expired or revoked); log in again' };
    if (req.edgeAuthUnavailable) return { status: 503, message: 'the session cannot be checked right now; try again shortly' };
    const subject = req.user ? `u:${req.user.id}` : `ip:${this.clientAddress(req)}`;
    const decision = await this.limiter.consume(subject, { limit: this.upgradesPerMinute, window: '1m', name: 'socket-upgrade' });
    if (decision.allowed) return undefined;
    const retryAfter = String(Math.max(1, decision.retryAfter ?? 1));
    return decision.status === 503
      ? { status: 503, message: 'the upgrade limit cannot be checked right now', headers: { 'retry-after': retryAfter } }
      : { status: 429, message: `too many WebSocket upgrades; retry in ${retryAfter} s`, headers: { 'retry-after': retryAfter } };
  }

  private tunnel(req: ProxiedRequest, client: Duplex, head: Buffer): void {
    const sid = sessionIdOf(req.url);
    const upstream = this.upstreamFor(sid, req.headers.cookie);
    const headers = this.upstreamHeaders(req, upstream);
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade ?? 'websocket';
    const upstreamReq = send(upstream, req.url!, 'GET', headers);
    let settled = false;
    const onClientGone = (): void => {
      if (!settled) upstreamReq.destroy();
    };
    client.once('close', onClientGone);
    upstreamReq.setTimeout(CONNECT_TIMEOUT_MS, () => upstreamReq.destroy(new Error('upstream timeout')));
    upstreamReq.on('error', (error) => {
      if (settled) return;
      settled = true;
      this.logger.warn(`Socket.IO upstream upgrade failed: ${error.message}`);
      refuse(client, 502, 'the upstream did not answer');
    });
    // The upstream refused the upgrade (unknown session, bad request): the client gets its answer.
    upstreamReq.on('response', (upstreamRes) => {
      settled = true;
      upstreamReq.setTimeout(0);
      if (client.destroyed) return void upstreamRes.destroy();
      client.write(statusLine(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage) + headerLines({ ...withoutHopByHop(upstreamRes.headers), connection: 'close' }) + '\r\n');
      upstreamRes.pipe(client);
    });
    upstreamReq.on('upgrade', (upstreamRes, upstreamSocket, upstreamHead) => {
      settled = true;
      upstreamReq.setTimeout(0);
      client.off('close', onClientGone);
      if (client.destroyed) return void upstreamSocket.destroy();
      this.tunnels++;
      this.open.add(client);
      this.open.add(upstreamSocket);
      // Either side closing closes the other; bytes still queued towards it are flushed first
      // (bounded: a peer that does not take them is destroyed). The tunnel counts until both are closed.
      let open = 2;
      const closed = (end: Duplex, other: Duplex) => (): void => {
        this.open.delete(end);
        if (other.destroyed) {
          // Counted by its own close event.
        } else if (other.writableLength === 0) {
          other.destroy();
        } else {
          other.end();
          setTimeout(() => other.destroy(), 5_000).unref();
        }
        if (--open > 0) return;
        this.tunnels--;
        if (sid !== undefined) this.sticky.delete(sid);
      };
      client.once('close', closed(client, upstreamSocket));
      upstreamSocket.once('close', closed(upstreamSocket, client));
      const broken = (): void => {
        client.destroy();
        upstreamSocket.destroy();
      };
      client.on('error', broken);
      upstreamSocket.on('error', broken);
      // A peer that vanished without a FIN (a laptop lid, a NAT timeout) is found by TCP keep-alive.
      for (const end of [client, upstreamSocket] as Array<Duplex & Partial<Pick<Socket, 'setNoDelay' | 'setKeepAlive'>>>) {
        end.setNoDelay?.(true);
        end.setKeepAlive?.(true, 30_000);
      }
      client.write(statusLine(101, upstreamRes.statusMessage) + rawHeaderLines(upstreamRes.rawHeaders) + '\r\n');
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.pipe(client);
      client.pipe(upstreamSocket);
    });
    upstreamReq.end();
  }

  private readHandshake(upstream: string, upstreamRes: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let passedThrough = false;
    const headers = withoutHopByHop(upstreamRes.headers);
    upstreamRes.on('data', (chunk: Buffer) => {
      if (passedThrough) return;
      size += chunk.length;
      chunks.push(chunk);
      if (size > HANDSHAKE_MAX_BYTES) {
        passedThrough = true;
        res.writeHead(200, headers);
        for (const c of chunks) res.write(c);
        upstreamRes.pipe(res);
      }
    });
    upstreamRes.on('end', () => {
      if (passedThrough) return;
      const body = Buffer.concat(chunks);
      const sid = /"sid":"([^"]{1,100})"/.exec(body.toString('utf8'))?.[1];
      if (sid !== undefined) this.remember(sid, upstream);
      delete headers['content-length'];
      if (sid !== undefined && this.upstreams.length > 1) {
        // Browsers send it back on every poll and on the upgrade, so any gateway with the same
        // DEMO_URL list can route the session; it names an upstream, never who the user is.
        const cookie = `${STICKY_COOKIE}=${upstreamTag(upstream)}; Path=${SOCKET_IO_PATH}; HttpOnly; SameSite=Lax`;
        const existing = headers['set-cookie'] ?? [];
        headers['set-cookie'] = [...existing, cookie];
      }
      res.writeHead(200, { ...headers, 'content-length': String(body.length) });
      res.end(body);
    });
    upstreamRes.on('error', () => res.destroy());
  }

  private upstreamFor(sid: string | undefined, cookie: string | undefined): string {
    if (this.upstreams.length === 1) return this.upstreams[0]!;
    const known = sid === undefined ? undefined : this.sticky.get(sid);
    if (known) return known.upstream;
    // A session this process did not see begin (another gateway did): the cookie that gateway set
    // names its instance. Only for requests of a session: a new handshake is spread as usual.
    const named = sid === undefined ? undefined : this.upstreams.find((u) => upstreamTag(u) === cookieValue(cookie, STICKY_COOKIE));
    if (named) return named;
    const url = this.upstreams[this.next % this.upstreams.length]!;
    this.next = (this.next + 1) % this.upstreams.length;
    return url;
  }

  private remember(sid: string, upstream: string): void {
    if (this.upstreams.length === 1) return;
    if (this.sticky.size >= STICKY_MAX_ENTRIES) this.sticky.delete(this.sticky.keys().next().value!);
    this.sticky.set(sid, { upstream, seenAt: Date.now() });
  }

  private touch(sid: string): void {
    const entry = this.sticky.get(sid);
    if (entry) entry.seenAt = Date.now();
  }

  private forgetIdle(): void {
    const before = Date.now() - STICKY_IDLE_MS;
    for (const [sid, entry] of this.sticky) if (entry.seenAt < before) this.sticky.delete(sid);
  }

  private upstreamHeaders(req: IncomingMessage, upstream: string): IncomingHttpHeaders {
    const headers: IncomingHttpHeaders = { ...req.headers };
    for (const name of HOP_BY_HOP) delete headers[name];
    for (const name of connectionTokens(req.headers.connection)) delete headers[name];
    // Only the gateway may say who the caller is; the demo authenticates sockets from their session.
    for (const name of IDENTITY_HEADERS) delete headers[name];
    const remote = req.socket.remoteAddress ?? '';
    const forwarded = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = forwarded ? `${Array.isArray(forwarded) ? forwarded.join(', ') : forwarded}, ${remote}` : remote;
    headers['x-forwarded-proto'] = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
    headers.host = new URL(upstream).host;
    return headers;
  }

  private clientAddress(req: IncomingMessage): string {
    const remote = req.socket.remoteAddress ?? 'unknown';
    if (this.trustProxy === 0) return remote;
    const raw = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(raw) ? raw.join(',') : (raw ?? '')).split(',').map((s) => s.trim()).filter((s) => s !== '');
    const chain = [...hops, remote];
    return chain[Math.max(0, chain.length - 1 - this.trustProxy)]!;
  }
}

function send(upstream: string, path: string, method: string, headers: IncomingHttpHeaders): ClientRequest {
  const url = new URL(upstream);
  const options = { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || undefined, path, method, headers, agent: false as const };
  return url.protocol === 'https:' ? httpsRequest(options) : httpRequest(options);
}

/** A short, stable name of an upstream URL: the same on every gateway configured with it. */
function upstreamTag(url: string): string {
  return createHash('sha256').update(url).digest('base64url').slice(0, 12);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

function sessionIdOf(url: string | undefined): string | undefined {
  const query = (url ?? '').split('?')[1];
  if (!query) return undefined;
  return new URLSearchParams(query).get('sid') ?? undefined;
}

function connectionTokens(value: string | string[] | undefined): string[] {
  const raw = Array.isArray(value) ? value.join(',') : (value ?? '');
  return raw.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive');
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  for (const name of connectionTokens(headers.connection)) delete out[name];
  return out;
}

function statusLine(status: number, message?: string): string {
  return `HTTP/1.1 ${status} ${message || STATUS_CODES[status] || ''}\r\n`;
}

function headerLines(headers: IncomingHttpHeaders | Record<string, string>): string {
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out += `${name}: ${v}\r\n`;
  }
  return out;
}

function rawHeaderLines(raw: string[]): string {
  let out = '';
  for (let i = 0; i + 1 < raw.length; i += 2) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return out;
}

/** Answers a refused upgrade with a plain HTTP response and closes the socket. */
function refuse(client: Duplex, status: number, message: string, extra: Record<string, string> = {}): void {
  if (client.destroyed) return;
  const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message });
  client.end(statusLine(status) + headerLines({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...extra }) + '\r\n' + body);
  // A client that never reads its answer must not hold the socket.
  setTimeout(() => client.destroy(), 1_000).unref();
}

function json(res: ServerResponse, status: number, error: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ statusCode: status, error, message }));
}
