import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RedisModule } from 'nestjs-redis-kit';
import { RedisMetricsModule } from 'nestjs-redis-kit/metrics';
import { startRedis, type RedisProcess } from '@nestjs-redis-kit/test-support';

const ROOT = process.cwd();
const ALERTS = join(ROOT, 'deploy/prometheus/alerts.yml');
const ALERTS_TEST = join(ROOT, 'deploy/prometheus/alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/dashboard.json');

/** promtool from Debian's `prometheus` package (.ci/run installs it); its output is shown when it fails. */
function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('promtool is not installed: apt-get install -y prometheus (CI does it in .ci/run)');
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Metric names an expression reads: `redis_kit_…` identifiers, not parts of recording-rule names. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/(?<![A-Za-z0-9_:])redis_kit_[A-Za-z0-9_]+(?![A-Za-z0-9_:])/g)].map((m) => m[0]);
}

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}

describe('Prometheus alert rules and the Grafana dashboard', () => {
  let redis: RedisProcess;
  let app: INestApplication;
  /** Every series name the exporter can produce, read from a real app's /metrics. */
  const exported = new Set<string>();

  beforeAll(async () => {
    redis = await startRedis();
    const moduleRef = await Test.createTestingModule({ imports: [RedisModule.forRoot({ url: redis.url }), RedisMetricsModule.forRoot({})] }).compile();
    app = moduleRef.createNestApplication({ logger: ['warn', 'error'] });
    await app.listen(0, '127.0.0.1');
    const text = await (await fetch(`${await app.getUrl()}/metrics`.replace('[::1]', '127.0.0.1'))).text();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name!);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name + suffix);
    }
  });
  afterAll(async () => {
    await app?.close();
    await redis?.stop();
  });

  it('alerts.yml passes promtool check rules, and its unit tests pass promtool test rules', () => {
    expect(promtool('check', 'rules', ALERTS)).toMatch(/SUCCESS: \d+ rules found/);
    expect(promtool('test', 'rules', ALERTS_TEST)).toContain('SUCCESS');
  });

  it('names the alerts the guides ask for, each reading only metrics the exporter serves', () => {
    const text = readFileSync(ALERTS, 'utf8');
    const alerts = [...text.matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]);
    expect(alerts).toEqual([
      'RedisKitRedisDown',
      'RedisKitDegraded',
      'RedisKitMemoryHigh',
      'RedisKitCacheHitRatioLow',
      'RedisKitOutageJournalGrowing',
      'RedisKitRateLimitFallbackActive',
      'RedisKitRefreshTokenReuseSpike',
      'RedisKitSlowCommands',
    ]);
    const exprs = [...text.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
    const unknown = exprs.flatMap(metricNames).filter((name) => !exported.has(name));
    expect(unknown).toEqual([]);
  });

  it('dashboard.json: every query reads an exported metric, and every query is valid PromQL', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Array<{ name: string }> } };
    expect(dashboard.uid).toBe('nestjs-redis-kit');
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'job']);
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
    const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(queries.length).toBeGreaterThan(20);
    for (const { panel, expr } of queries) {
      const names = metricNames(expr);
      expect({ panel, expr, reads: names.length > 0 }).toEqual({ panel, expr, reads: true });
      expect({ panel, unknown: names.filter((n) => !exported.has(n)) }).toEqual({ panel, unknown: [] });
    }
    // The questions the guides ask, each answered by a panel.
    const all = queries.map((q) => q.expr).join('\n');
    for (const metric of [
      'redis_kit_redis_ops_per_second',
      'redis_kit_redis_connected_clients',
      'redis_kit_redis_keys_estimate',
      'redis_kit_redis_evicted_keys_total',
      'redis_kit_redis_expired_keys_total',
      'redis_kit_redis_slow_commands_total',
      'redis_kit_cache_route_requests_total',
      'redis_kit_redis_memory_ratio',
    ]) {
      expect(all).toContain(metric);
    }

    // PromQL syntax: each query, with Grafana's variables filled in, as a recording rule for promtool.
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-rules-'));
    try {
      const rules = queries.map((q, i) => `      - record: dashboard_query_${i}\n        expr: ${JSON.stringify(q.expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', '.*'))}`);
      const file = join(dir, 'dashboard.rules.yml');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      expect(promtool('check', 'rules', file)).toContain(`SUCCESS: ${queries.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
