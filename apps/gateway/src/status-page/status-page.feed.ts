import type { ServerResponse } from 'node:http';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { mergeSummaries, parsePrometheusText, RedisStatusService, summarizeMetrics, type ConnectionSnapshot, type MetricsSummary } from 'nestjs-redis-kit/metrics';
import { UPSTREAM_URLS } from '../upstream.config.js';
import { STATUS_PAGE_CONFIG, type StatusPageConfig } from './status-page.config.js';

export interface UpstreamView {
  url: string;
  /** Whether its `/metrics` answered this round. */
  ok: boolean;
}

/** What the page draws: this gateway's Redis connection, and cache / rate-limit / session figures of the gateway and its upstreams together. */
export interface StatusView {
  at: number;
  connections: ConnectionSnapshot[];
  metrics: MetricsSummary;
  upstreams: UpstreamView[];
}

const UPSTREAM_TIMEOUT_MS = 1_000;
/** A revoked admin session or a changed token closes an open stream within this long. */
const RECHECK_MS = 30_000;
/** A stream whose client reads slower than this much pending output is closed rather than buffered forever. */
const MAX_PENDING_BYTES = 1 << 20;

/**
 * Builds the view once per interval however many pages are open, and pushes it to each of them as
 * a server-sent event. The timer runs only while a page is open.
 */
@Injectable()
export class StatusPageFeed implements OnModuleDestroy {
  /** Open streams, each with the check of its credential (re-run every RECHECK_MS). */
  private readonly clients = new Map<ServerResponse, { allowed: () => Promise<boolean>; checkedAt: number }>();
  private timer?: NodeJS.Timeout;
  private last?: StatusView;
  private inFlight?: Promise<StatusView>;

  constructor(
    private readonly status: RedisStatusService,
    @Inject(UPSTREAM_URLS) private readonly upstreams: string[],
    @Inject(STATUS_PAGE_CONFIG) private readonly config: StatusPageConfig,
  ) {}

  get clientCount(): number {
    return this.clients.size;
  }

  /** The current view; views younger than half an interval are shared. */
  view(): Promise<StatusView> {
    if (this.last && Date.now() - this.last.at < this.config.intervalMs / 2) return Promise.resolve(this.last);
    this.inFlight ??= this.build().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  hasRoom(): boolean {
    return this.clients.size < this.config.maxClients;
  }

  /** Adds a stream; false when the limit of open streams is reached. `allowed` re-checks its credential. */
  add(res: ServerResponse, allowed: () => Promise<boolean>): boolean {
    if (!this.hasRoom()) return false;
    this.clients.set(res, { allowed, checkedAt: Date.now() });
    res.on('close', () => this.remove(res));
    void this.view().then((view) => this.send(res, frame(view)), () => undefined);
    this.timer ??= setInterval(() => void this.tick(), this.config.intervalMs);
    return true;
  }

  onModuleDestroy(): void {
    for (const res of this.clients.keys()) res.end();
    this.clients.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private remove(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private async tick(): Promise<void> {
    let view: StatusView;
    try {
      view = await this.view();
    } catch {
      return;
    }
    // Serialized once for every open page.
    const data = frame(view);
    const now = Date.now();
    for (const [res, client] of this.clients) {
      if (now - client.checkedAt >= RECHECK_MS) {
        client.checkedAt = now;
        void client.allowed().then(
          (ok) => (ok ? undefined : res.end()),
          () => res.end(),
        );
      }
      this.send(res, data);
    }
  }

  private send(res: ServerResponse, data: string): void {
    if (res.writableEnded || res.destroyed) return this.remove(res);
    if (res.writableLength > MAX_PENDING_BYTES) {
      res.destroy();
      return this.remove(res);
    }
    res.write(data);
  }

  private async build(): Promise<StatusView> {
    const [own, upstream] = await Promise.all([this.status.snapshot(), Promise.all(this.upstreams.map((url) => this.readUpstream(url)))]);
    const view: StatusView = {
      at: Date.now(),
      connections: own.connections,
      metrics: mergeSummaries([own.metrics, ...upstream.flatMap((u) => (u.summary ? [u.summary] : []))]),
      upstreams: upstream.map(({ url, summary }) => ({ url, ok: summary !== null })),
    };
    this.last = view;
    return view;
  }

  /** An upstream's `/metrics`, read like our own registry; null when it does not answer in time. */
  private async readUpstream(url: string): Promise<{ url: string; summary: MetricsSummary | null }> {
    try {
      const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
      if (!response.ok) {
        await response.body?.cancel();
        return { url, summary: null };
      }
      return { url, summary: summarizeMetrics(parsePrometheusText(await response.text())) };
    } catch {
      return { url, summary: null };
    }
  }
}

function frame(view: StatusView): string {
  return `event: status\ndata: ${JSON.stringify(view)}\n\n`;
}
