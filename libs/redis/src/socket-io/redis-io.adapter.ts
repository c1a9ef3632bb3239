import { Logger, type INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { RedisConnection } from '../connection/redis.connection.js';
import { DEFAULT_REDIS_NAME, getRedisConnectionToken } from '../connection/redis.tokens.js';
import { toMs } from '../duration.js';
import { RedisConfigError } from '../redis.errors.js';
import { DEFAULT_SESSION_COOKIE, isCookieName } from '../session/session.http.js';
import { SessionService } from '../session/session.service.js';
import { authenticateHandshake, HandshakeRefusal } from './redis-io.auth.js';
import { deriveClients, type IoRedisClients } from './redis-io.clients.js';
import { normalizeException } from './redis-io.exceptions.js';
import type { RedisIoAdapterOptions } from './redis-io.options.js';
import type { IoNamespace as Namespace, IoServer as Server, IoServerOptions as ServerOptions, IoSocket as Socket } from './redis-io.types.js';
import { SocketSessions } from './redis-io.sessions.js';

const DEFAULT_REVALIDATE = '30s';

/**
 * Nest's Socket.IO adapter with Socket.IO's Redis adapter attached, on connections derived from
 * the `RedisModule` connection (standalone, Sentinel or Cluster; TLS, ACL user and `keyPrefix`
 * respected: the channel prefix is `<keyPrefix>socket.io`, so apps sharing a Redis never hear
 * each other). On a Cluster it uses sharded pub/sub. With no Redis configured (embedded store) it
 * keeps Socket.IO's in-memory adapter. While Redis is away a broadcast still reaches this
 * instance's sockets, nothing is buffered, and cross-instance delivery resumes when Redis returns.
 *
 * ```ts
 * const app = await NestFactory.create(AppModule);
 * app.useWebSocketAdapter(new RedisIoAdapter(app, { authenticate: true }));
 * ```
 */
export class RedisIoAdapter extends IoAdapter {
  private readonly log = new Logger('RedisIoAdapter');
  private readonly settings: { cookieName: string | null; revalidateMs: number; connection: string };
  private clients?: IoRedisClients;
  private sessionsIndex?: SocketSessions;
  private readonly prepared = new WeakSet<Namespace>();

  constructor(
    private readonly app: INestApplicationContext,
    options: RedisIoAdapterOptions = {},
  ) {
    super(app);
    this.settings = checkOptions(options);
  }

  /** Creates the Socket.IO server with the Redis adapter (or the in-memory one on the embedded store). */
  override createIOServer(port: number, options?: ServerOptions): Server {
    const adapter = this.adapterFactory(port);
    return super.createIOServer(port, adapter ? ({ ...options, adapter } as ServerOptions) : options);
  }

  /** Adds the handshake check and the socket bookkeeping to every namespace a gateway uses. */
  override create(port: number, options?: Parameters<IoAdapter['create']>[1]): ReturnType<IoAdapter['create']> {
    const created = super.create(port, options);
    this.prepare('of' in created && typeof created.of === 'function' ? (created as Server).of('/') : (created as Namespace));
    return created;
  }

  /** Stops re-validation, unsubscribes from revocation notices and closes the adapter's Redis connections. */
  override async dispose(): Promise<void> {
    await this.sessionsIndex?.close();
    const clients = this.clients;
    this.clients = undefined;
    await clients?.close();
    await super.dispose();
  }

  private adapterFactory(port: number): ServerOptions['adapter'] | undefined {
    const connection = this.connection();
    if (!connection.client) return undefined;
    this.clients ??= deriveClients(connection.client, this.log, connection.options.commandTimeoutMs);
    // A gateway on its own port is a server of its own: its namespaces must not share channels with
    // the same namespaces of the server on the app's port.
    const key = `${connection.options.keyPrefix}socket.io${port ? `:${port}` : ''}`;
    const { pub, sub, cluster } = this.clients;
    // Classic pub/sub on a Cluster reaches every node; sharded pub/sub keeps each room's traffic on one shard.
    return (cluster ? createShardedAdapter(pub, sub, { channelPrefix: key }) : createAdapter(pub, sub, { key })) as ServerOptions['adapter'];
  }

  private connection(): RedisConnection {
    const name = this.settings.connection;
    try {
      return this.app.get<RedisConnection>(name === DEFAULT_REDIS_NAME ? RedisConnection : getRedisConnectionToken(name), { strict: false });
    } catch {
      throw new RedisConfigError([`RedisIoAdapter: no RedisModule connection "${name}" in this application; import RedisModule.forRoot(...) first`]);
    }
  }

  private prepare(nsp: Namespace): void {
    if (this.prepared.has(nsp)) return;
    this.prepared.add(nsp);
    // Rate-limit refusals reach the client as { status, code: 'E_RATE_LIMITED', message, retryAfterMs }.
    nsp.on('connection', (socket: Socket) => normalizeException(socket));
    const cookieName = this.settings.cookieName;
    if (cookieName === null) return;
    const sessions = this.sessionService();
    const index = (this.sessionsIndex ??= new SocketSessions(sessions, this.log, this.settings.revalidateMs));
    index.start();
    nsp.use((socket, next) => {
      authenticateHandshake(sessions, socket, cookieName).then(
        (result) => {
          if (result instanceof HandshakeRefusal) return next(result);
          socket.data.userId = result.userId;
          socket.data.sessionId = result.sessionId;
          // Where WsRateLimitGuard looks for the user: per-user limits on authenticated sockets.
          socket.data.user = { id: result.userId };
          next();
        },
        (error: unknown) => next(error instanceof Error ? error : new Error(String(error))),
      );
    });
    // Registered before the gateway's own handler (Nest binds it after create()).
    nsp.on('connection', (socket: Socket) => {
      const { userId, sessionId } = socket.data as { userId?: string; sessionId?: string };
      if (typeof userId !== 'string' || typeof sessionId !== 'string') return;
      void socket.join(`user:${userId}`);
      index.add(socket, userId, sessionId);
    });
  }

  private sessionService(): SessionService {
    try {
      return this.app.get(SessionService, { strict: false });
    } catch {
      throw new RedisConfigError(['RedisIoAdapter: authenticate needs SessionService; import RedisModule.forRoot(...) in the application']);
    }
  }
}

/**
 * The user id of an authenticated socket (`socket.data.userId`), or `undefined` for a socket the
 * adapter did not authenticate.
 */
export function socketUser(socket: { data?: unknown }): string | undefined {
  const data = socket?.data as { userId?: unknown } | undefined;
  return typeof data?.userId === 'string' ? data.userId : undefined;
}

function checkOptions(options: RedisIoAdapterOptions): { cookieName: string | null; revalidateMs: number; connection: string } {
  const problems: string[] = [];
  const o = options ?? {};
  let cookieName: string | null = null;
  if (o.authenticate === true) cookieName = DEFAULT_SESSION_COOKIE;
  else if (o.authenticate && typeof o.authenticate === 'object') {
    const name = o.authenticate.cookieName ?? DEFAULT_SESSION_COOKIE;
    if (!isCookieName(name)) problems.push(`authenticate.cookieName must be a cookie name (got ${JSON.stringify(name)})`);
    cookieName = name;
  } else if (o.authenticate !== undefined && o.authenticate !== false) problems.push(`authenticate must be a boolean or { cookieName } (got ${JSON.stringify(o.authenticate)})`);
  let revalidateMs = 0;
  try {
    revalidateMs = toMs(o.revalidateEvery ?? DEFAULT_REVALIDATE, 'revalidateEvery');
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  if (o.connection !== undefined && (typeof o.connection !== 'string' || o.connection === '')) problems.push('connection must name a RedisModule connection');
  if (problems.length > 0) throw new RedisConfigError(problems.map((p) => `RedisIoAdapter: ${p}`));
  return { cookieName, revalidateMs, connection: o.connection ?? DEFAULT_REDIS_NAME };
}
