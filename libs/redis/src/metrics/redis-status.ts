/**
 * The figures a status page shows, read from Prometheus text: the same code reads this instance's
 * registry and another instance's `/metrics`, so a gateway can show what its upstreams cache.
 */

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Hit, miss and stale-served counts of one cache namespace or route. */
export interface CacheFigures {
  hits: number;
  misses: number;
  stale: number;
}

/** The capability figures (cache, rate limit, sessions, journal) a status page shows, summed from Prometheus samples. */
export interface MetricsSummary {
  /** By cache namespace (`http` is the one `@Cacheable` uses). */
  cacheNamespaces: Record<string, CacheFigures>;
  /** By `@Cacheable` route template. */
  cacheRoutes: Record<string, CacheFigures>;
  /** By policy: decisions allowed, refused, and made without Redis (`whenUnavailable`). */
  rateLimit: Record<string, { allowed: number; refused: number; unchecked: number }>;
  /** Active sessions in the store; null when no instance reported them. */
  sessionsActive: number | null;
  refreshTokenReuse: number;
  /** Writes waiting to be replayed to Redis, summed over the instances. */
  journalSize: number;
}

/** Parses the Prometheus text exposition format (samples only; comments and timestamps ignored). */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    if (match[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let m: RegExpExecArray | null;
      while ((m = re.exec(match[2])) !== null) labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = Number(match[3]);
    if (!Number.isNaN(value)) samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

const emptyCache = (): CacheFigures => ({ hits: 0, misses: 0, stale: 0 });

/** What the status page needs out of one instance's metrics. */
export function summarizeMetrics(samples: MetricSample[], prefix = 'redis_kit_'): MetricsSummary {
  const summary: MetricsSummary = { cacheNamespaces: {}, cacheRoutes: {}, rateLimit: {}, sessionsActive: null, refreshTokenReuse: 0, journalSize: 0 };
  const ns = (name: string) => (summary.cacheNamespaces[name] ??= emptyCache());
  const policy = (name: string) => (summary.rateLimit[name] ??= { allowed: 0, refused: 0, unchecked: 0 });
  for (const s of samples) {
    if (!s.name.startsWith(prefix)) continue;
    const name = s.name.slice(prefix.length);
    const l = s.labels;
    switch (name) {
      case 'cache_hits_total':
        ns(l.namespace ?? '').hits += s.value;
        break;
      case 'cache_misses_total':
        ns(l.namespace ?? '').misses += s.value;
        break;
      case 'cache_stale_total':
        ns(l.namespace ?? '').stale += s.value;
        break;
      case 'cache_route_requests_total': {
        const route = (summary.cacheRoutes[l.route ?? ''] ??= emptyCache());
        if (l.outcome === 'hit') route.hits += s.value;
        else if (l.outcome === 'stale') route.stale += s.value;
        else route.misses += s.value;
        break;
      }
      case 'rate_limit_decisions_total':
        if (l.outcome === 'refused') policy(l.policy ?? '').refused += s.value;
        else policy(l.policy ?? '').allowed += s.value;
        break;
      case 'rate_limit_unchecked_total':
        policy(l.policy ?? '').unchecked += s.value;
        break;
      case 'sessions_active':
        summary.sessionsActive = Math.max(summary.sessionsActive ?? 0, s.value);
        break;
      case 'refresh_token_reuse_total':
        summary.refreshTokenReuse += s.value;
        break;
      case 'fallback_journal_size':
        summary.journalSize += s.value;
        break;
    }
  }
  return summary;
}

/**
 * Several instances as one: counters add up; active sessions are a fact of the shared store, so
 * the largest report wins rather than a sum that would count each session once per instance.
 */
export function mergeSummaries(summaries: MetricsSummary[]): MetricsSummary {
  const out: MetricsSummary = { cacheNamespaces: {}, cacheRoutes: {}, rateLimit: {}, sessionsActive: null, refreshTokenReuse: 0, journalSize: 0 };
  const addCache = (into: Record<string, CacheFigures>, from: Record<string, CacheFigures>) => {
    for (const [k, v] of Object.entries(from)) {
      const t = (into[k] ??= emptyCache());
      t.hits += v.hits;
      t.misses += v.misses;
      t.stale += v.stale;
    }
  };
  for (const s of summaries) {
    addCache(out.cacheNamespaces, s.cacheNamespaces);
    addCache(out.cacheRoutes, s.cacheRoutes);
    for (const [k, v] of Object.entries(s.rateLimit)) {
      const t = (out.rateLimit[k] ??= { allowed: 0, refused: 0, unchecked: 0 });
      t.allowed += v.allowed;
      t.refused += v.refused;
      t.unchecked += v.unchecked;
    }
    if (s.sessionsActive !== null) out.sessionsActive = Math.max(out.sessionsActive ?? 0, s.sessionsActive);
    out.refreshTokenReuse += s.refreshTokenReuse;
    out.journalSize += s.journalSize;
  }
  return out;
}
