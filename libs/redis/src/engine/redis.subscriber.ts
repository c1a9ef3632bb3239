import { Cluster, Redis } from 'ioredis';
import { escapeGlob } from './glob.util.js';
import { disconnectAndWait } from './redis.close.js';
import type { MessageHandler, PatternMessageHandler, SubscribeOptions, Unsubscribe } from './store-engine.types.js';

type Client = Redis | Cluster;

// A subscription made while the subscriber connects waits this long to become active; one made
// while Redis is down returns at once and activates when Redis returns.
const SUBSCRIBE_WAIT_MS = 2_000;
// Pause before a Cluster subscriber whose node went away moves to the next master.
const CLUSTER_RETRY_MS = 200;

/**
 * The engine's one subscriber connection. Subscriptions are kept here as the source of truth and
 * (re)issued whenever the connection becomes ready; every consumer that asked for it is told when
 * the connection drops (messages may be lost from then on) and when it is subscribed again, so a
 * gap is never silent.
 *
 * On a Cluster the subscriber is a plain connection to one master, not a Cluster client: PUBLISH is
 * broadcast to every node, so any node hears every message, and a plain connection reports its own
 * close (ioredis' cluster subscriber swaps its connection without telling anyone). When that node
 * goes away for good, the subscriber moves to the next master.
 */
export class RedisSubscriber {
  private connection?: Redis;
  private resubscribed: Promise<void> = Promise.resolve();
  private readonly channels = new Map<string, Set<MessageHandler>>();
  private readonly patterns = new Map<string, Set<PatternMessageHandler>>();
  private readonly stateListeners = new Set<(live: boolean) => void>();
  private live = false;
  private closed = false;
  private rotation = 0;

  constructor(
    private readonly client: Client,
    private readonly prefix: string,
    private readonly onHandlerError?: (error: unknown, channel: string) => void,
    // A subscription made while the subscriber connects, or on a Redis that stopped answering
    // (SIGSTOP keeps the socket "ready"), waits at most this long; it activates whenever Redis does.
    private readonly waitMs: number = SUBSCRIBE_WAIT_MS,
  ) {}

  subscribe(channel: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Unsubscribe> {
    return this.add(this.channels, this.prefix + channel, handler, 'subscribe', 'unsubscribe', options);
  }

  psubscribe(pattern: string, handler: PatternMessageHandler): Promise<Unsubscribe> {
    return this.add(this.patterns, escapeGlob(this.prefix) + pattern, handler, 'psubscribe', 'punsubscribe');
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    this.channels.clear();
    this.patterns.clear();
    this.stateListeners.clear();
    // The subscriber is always ours, even on an application-provided client.
    if (connection) await disconnectAndWait(connection);
  }

  private async add<H>(registry: Map<string, Set<H>>, redisName: string, handler: H, on: 'subscribe' | 'psubscribe', off: 'unsubscribe' | 'punsubscribe', options?: SubscribeOptions): Promise<Unsubscribe> {
    const handlers = registry.get(redisName) ?? new Set<H>();
    const first = handlers.size === 0;
    handlers.add(handler);
    registry.set(redisName, handlers);
    const onState = options?.onState;
    if (onState) this.stateListeners.add(onState);
    const subscriber = this.ensure();
    if (subscriber.status !== 'ready') await readySoon(subscriber, this.waitMs);
    if (subscriber.status === 'ready') {
      // The ready handler subscribes to what was registered when it ran; ours may have come later.
      await withTimeout(this.resubscribed, this.waitMs);
      if (first) await withTimeout(subscriber[on](redisName).catch(() => undefined), this.waitMs);
    }
    // Not active yet (Redis down): say so now; `true` follows when the ready handler subscribed.
    if (onState && !this.live) onState(false);
    return async () => {
      if (onState) this.stateListeners.delete(onState);
      if (!handlers.delete(handler) || handlers.size > 0) return;
      registry.delete(redisName);
      if (this.connection?.status === 'ready') await this.connection[off](redisName).catch(() => undefined);
    };
  }

  private setLive(live: boolean): void {
    if (this.live === live) return;
    this.live = live;
    for (const listener of [...this.stateListeners]) this.deliver('', () => listener(live));
  }

  private ensure(): Redis {
    if (this.connection) return this.connection;
    const connection = this.client instanceof Cluster ? this.clusterConnection() : this.client.duplicate();
    this.connection = connection;
    connection.on('error', () => undefined); // the main connection reports outages; avoid noise twice
    connection.on('close', () => this.setLive(false));
    connection.on('ready', () => {
      const channels = [...this.channels.keys()];
      const patterns = [...this.patterns.keys()];
      this.resubscribed = Promise.all([channels.length > 0 ? connection.subscribe(...channels) : undefined, patterns.length > 0 ? connection.psubscribe(...patterns) : undefined]).then(
        () => {
          if (this.connection === connection && connection.status === 'ready') this.setLive(true);
        },
        () => undefined,
      );
    });
    connection.on('message', (channel: string, message: string) => {
      const logical = channel.slice(this.prefix.length);
      for (const h of this.channels.get(channel) ?? []) this.deliver(logical, () => h(message, logical));
    });
    connection.on('pmessage', (pattern: string, channel: string, message: string) => {
      const logical = channel.slice(this.prefix.length);
      const logicalPattern = pattern.slice(escapeGlob(this.prefix).length);
      for (const h of this.patterns.get(pattern) ?? []) this.deliver(logical, () => h(message, logical, logicalPattern));
    });
    if (connection.status === 'wait') connection.connect().catch(() => undefined);
    return connection;
  }

  /** A plain connection to one master, moving to the next one when this one ends. */
  private clusterConnection(): Redis {
    const cluster = this.client as Cluster;
    const masters = cluster.nodes('master');
    const seeds = masters.length > 0 ? masters.map((m) => ({ host: m.options.host, port: m.options.port })) : ((cluster as unknown as { startupNodes: Array<{ host?: string; port?: number }> }).startupNodes ?? []);
    const seed = seeds[this.rotation++ % Math.max(1, seeds.length)] ?? {};
    const connection = new Redis({
      ...cluster.options.redisOptions,
      host: seed.host ?? '127.0.0.1',
      port: seed.port ?? 6379,
      lazyConnect: true,
      // Reconnect to the same node a few times, then give up so 'end' moves us to another master.
      retryStrategy: (attempt) => (attempt > 3 ? null : Math.min(100 * attempt, 500)),
    });
    connection.once('end', () => {
      if (this.closed || this.connection !== connection) return;
      this.connection = undefined;
      const timer = setTimeout(() => {
        if (!this.closed && !this.connection) this.ensure();
      }, CLUSTER_RETRY_MS);
      timer.unref();
    });
    return connection;
  }

  private deliver(channel: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.onHandlerError?.(error, channel);
    }
  }
}

function readySoon(client: Client, timeoutMs: number): Promise<boolean> {
  if (!['wait', 'connecting', 'connect'].includes(client.status)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const finish = (ready: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('close', onGone);
      client.off('end', onGone);
      resolve(ready);
    };
    const onReady = () => finish(true);
    // A refused connection attempt closes at once: no need to wait out the timeout on a dead Redis.
    const onGone = () => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    client.on('ready', onReady);
    client.on('close', onGone);
    client.on('end', onGone);
  });
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
