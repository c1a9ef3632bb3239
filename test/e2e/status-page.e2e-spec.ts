import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { AppModule as DemoModule } from '../../apps/demo/src/app.module.js';
import { DemoDatabase } from '../../apps/demo/src/database/database.service.js';
import { AppModule as GatewayModule } from '../../apps/gateway/src/app.module.js';
import { startRedis, waitUntil, type RedisProcess } from '@nestjs-redis-kit/test-support';

// Functions passed to page.evaluate run in the browser; the project compiles without the DOM library.
declare const document: any;
declare const window: any;
type HTMLElement = any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT = join(process.cwd(), 'test-output');
const TOKEN = 'status-token-0123456789abcdef';
const SECRET = 'e2e-shared-secret-0123456789';
const PASSWORD = 'demo-password';
const MAX_CLIENTS = 5;

async function boot(module: unknown, db?: DemoDatabase): Promise<{ app: INestApplication; url: string }> {
  let builder = Test.createTestingModule({ imports: [module as never] });
  if (db) builder = builder.overrideProvider(DemoDatabase).useValue(db);
  const app = (await builder.compile()).createNestApplication({ logger: ['warn', 'error'] });
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1') };
}

/** The gateway's status page in headless Chromium, against a demo and a real Redis that is killed and restarted. */
describe('status page in a real browser', () => {
  const savedEnv = { ...process.env };
  let redis: RedisProcess;
  let db: DemoDatabase;
  let demo: { app: INestApplication; url: string };
  let gateway: { app: INestApplication; url: string };
  let browser: Browser;
  let address = 0;
  const fromNewAddress = () => ({ 'x-forwarded-for': `10.9.${Math.floor(++address / 250)}.${address % 250}` });

  const login = async (email: string): Promise<string> => {
    const r = await fetch(`${gateway.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', ...fromNewAddress() }, body: JSON.stringify({ email, password: PASSWORD }) });
    expect(r.status).toBe(200);
    return ((await r.json()) as { sessionId: string }).sessionId;
  };

  beforeAll(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    Logger.overrideLogger(['warn', 'error']);
    redis = await startRedis();
    for (const key of Object.keys(process.env)) if (key.startsWith('REDIS_') || key.startsWith('GATEWAY_') || key.startsWith('DEMO_')) delete process.env[key];
    Object.assign(process.env, {
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '200',
      GATEWAY_SHARED_SECRET: SECRET,
      GATEWAY_TRUST_PROXY: '1',
      GATEWAY_RATE_LIMIT: '100000',
      GATEWAY_STATUS_TOKEN: TOKEN,
      GATEWAY_STATUS_INTERVAL_MS: '500',
      GATEWAY_STATUS_MAX_CLIENTS: String(MAX_CLIENTS),
    });
    db = await DemoDatabase.open({ path: ':memory:', latencyMs: 2 });
    demo = await boot(DemoModule, db);
    process.env.DEMO_URL = demo.url;
    gateway = await boot(GatewayModule);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.app.close();
    await demo?.app.close();
    db?.onApplicationShutdown();
    await redis?.stop();
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  it('refuses the page, its stream and its data without the token or an admin session', async () => {
    const page = await fetch(`${gateway.url}/status`);
    expect(page.status).toBe(401);
    const html = await page.text();
    expect(html).toContain('<form method="post" action="/status/login">');
    expect(html).not.toContain('status.js');
    for (const path of ['/status/events', '/status/snapshot']) {
      expect((await fetch(gateway.url + path)).status).toBe(401);
      expect((await fetch(gateway.url + path, { headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } })).status).toBe(401);
      expect((await fetch(gateway.url + path, { headers: { cookie: 'redis_kit_status=wrong' } })).status).toBe(401);
    }
    const wrong = await fetch(`${gateway.url}/status/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...fromNewAddress() }, body: 'credential=not-the-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('was not accepted');
    // A member's session is a valid session, but not an admin's.
    const member = await login('bob@example.com');
    expect((await fetch(`${gateway.url}/status/snapshot`, { headers: { authorization: `Bearer ${member}` } })).status).toBe(401);
  });

  it('opens with the token or an admin session, and says where commands are served', async () => {
    const byToken = await fetch(`${gateway.url}/status/snapshot`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(byToken.status).toBe(200);
    const view = (await byToken.json()) as { connections: Array<{ mode: string; topology: string; nodes: string[] }>; upstreams: Array<{ url: string; ok: boolean }> };
    expect(view.connections[0]).toMatchObject({ mode: 'redis', topology: 'standalone', nodes: [`127.0.0.1:${redis.port}`] });
    expect(view.upstreams).toEqual([{ url: demo.url, ok: true }]);
    const admin = await login('alice@example.com');
    expect((await fetch(`${gateway.url}/status/snapshot`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    const page = await fetch(`${gateway.url}/status`, { headers: { cookie: `redis_kit_status=${admin}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    // Static files are served from the gateway itself (no CDN).
    const chartLib = await fetch(`${gateway.url}/status/assets/uplot.js`);
    expect(chartLib.status).toBe(200);
    expect(await chartLib.text()).toContain('uPlot');
    expect((await fetch(`${gateway.url}/status/assets/..%2Fstatus-page.auth.ts`)).status).toBe(404);
  });

  it('/health in both apps aggregates Redis (latency, memory) and, on the gateway, the upstreams', async () => {
    for (const base of [gateway.url, demo.url]) {
      const r = await fetch(`${base}/health`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { status: string; info: Record<string, Record<string, unknown>> };
      expect(body.status).toBe('ok');
      expect(body.info.redis).toMatchObject({ status: 'up', mode: 'standalone', latencyMs: expect.any(Number), usedMemoryBytes: expect.any(Number), maxMemoryBytes: 0 });
      for (const path of ['/health/live', '/health/ready']) expect((await fetch(base + path)).status).toBe(200);
    }
    const gatewayHealth = (await (await fetch(`${gateway.url}/health`)).json()) as { info: Record<string, unknown> };
    expect(gatewayHealth.info.upstream).toEqual({ status: 'up', upstreams: { [demo.url]: 'up' } });
  });

  it('closes an open stream once its admin session is revoked (re-checked every 30 s)', async () => {
    const admin = await login('alice@example.com');
    const controller = new AbortController();
    const stream = await fetch(`${gateway.url}/status/events`, { headers: { authorization: `Bearer ${admin}` }, signal: controller.signal });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let ended = false;
    const drain = (async () => {
      while (!(await reader.read()).done);
      ended = true;
    })().catch(() => undefined);
    try {
      const logout = await fetch(`${gateway.url}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
      expect(logout.status).toBeLessThan(300);
      expect((await fetch(`${gateway.url}/status/snapshot`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(401);
      await waitUntil(() => ended, { timeoutMs: 45_000, intervalMs: 500, what: 'the stream of a revoked session to end' });
    } finally {
      controller.abort();
      await drain;
    }
  }, 60_000);

  it('limits open streams: the next one is refused with 503, and is accepted again once one closes', async () => {
    const controllers = Array.from({ length: MAX_CLIENTS }, () => new AbortController());
    const streams = await Promise.all(controllers.map((c) => fetch(`${gateway.url}/status/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: c.signal })));
    try {
      expect(streams.map((s) => s.status)).toEqual(streams.map(() => 200));
      const reader = streams[0]!.body!.getReader();
      let text = '';
      while (!text.includes('event: status')) text += new TextDecoder().decode((await reader.read()).value);
      reader.releaseLock();
      expect((await fetch(`${gateway.url}/status/events`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(503);
    } finally {
      for (const c of controllers) c.abort();
    }
    await waitUntil(
      async () => {
        const c = new AbortController();
        const r = await fetch(`${gateway.url}/status/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: c.signal });
        c.abort();
        return r.status === 200;
      },
      { timeoutMs: 10_000, what: 'a stream accepted after the others closed' },
    );
  });

  it('renders live in Chromium: charts move with traffic, the mode turns to memory when Redis dies and back when it returns', async () => {
    const page: Page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status\/events|Failed to load resource/.test(message.text())) problems.push(message.text());
    });
    await page.setViewport({ width: 1280, height: 1000 });
    await page.goto(`${gateway.url}/status`);
    // The login form, then the page.
    await page.type('#credential', TOKEN);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.waitForSelector('#mode[data-mode="redis"]', { timeout: 15_000 });
    await page.waitForSelector('#chart-latency canvas', { timeout: 15_000 });
    expect(await page.$eval('#topology', (el) => el.textContent)).toBe('standalone');

    // Traffic through the gateway: cached trips (one miss, then hits), and rate-limit decisions.
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${gateway.url}/api/trips/${(i % 3) + 1}`);
      await r.arrayBuffer();
    }
    await page.waitForFunction(() => (document.querySelector('#chart-hits') as HTMLElement | null)?.dataset.series?.includes('/trips/:id'), { timeout: 15_000 });
    // 3 trips, 10 reads each: 3 misses, 27 hits, as the page's table says once the next view arrives.
    const routeRow = () => page.$$eval('#cache-table tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)).find((cells) => cells[0] === 'GET /trips/:id'));
    await waitUntil(async () => (await routeRow())?.[1] === '27', { timeoutMs: 10_000, what: '27 hits on the page' });
    expect(await routeRow()).toEqual(['GET /trips/:id', '27', '3', '90.0 %']);
    const points = (id: string) => page.$eval(id, (el) => Number((el as HTMLElement).dataset.points));
    const before = await points('#chart-rl');
    await page.waitForFunction((n) => Number((document.querySelector('#chart-rl') as HTMLElement).dataset.points) > n + 2, { timeout: 15_000 }, before);
    expect(await page.$$eval('#rl-table tbody td:first-child', (cells) => cells.map((c) => c.textContent))).toContain('api');
    expect(await page.$eval('#latency', (el) => el.textContent)).toMatch(/^\d+\.\d\d$/);

    await redis.kill();
    try {
      const killedAt = Date.now();
      await page.waitForSelector('#mode[data-mode="memory"]', { timeout: 15_000 });
      expect(Date.now() - killedAt).toBeLessThan(15_000);
      // Traffic keeps flowing during the outage and the page keeps updating.
      for (let i = 0; i < 5; i++) await (await fetch(`${gateway.url}/api/trips/1`)).arrayBuffer();
      await page.waitForFunction(() => document.querySelector('#transitions')?.textContent?.includes('→ memory'), { timeout: 10_000 });
      expect(await page.$eval('#memory-note', (el) => el.textContent)).toBe('Redis is not answering');
      // /health says the same: still serving (200), Redis degraded.
      const health = await fetch(`${gateway.url}/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { info: Record<string, { status: string }> }).info.redis!.status).toBe('degraded');
      await page.screenshot({ path: join(OUTPUT, 'status-page-outage.png'), fullPage: true });
    } finally {
      await redis.start();
    }
    await page.waitForSelector('#mode[data-mode="redis"]', { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelector('#transitions')?.textContent?.includes('→ redis'), { timeout: 10_000 });
    for (let i = 0; i < 20; i++) await (await fetch(`${gateway.url}/api/trips?page=${(i % 2) + 1}`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 2_000));
    await page.screenshot({ path: join(OUTPUT, 'status-page.png'), fullPage: true });

    // Readable on a phone: nothing wider than the screen. (A mobile viewport reloads the page, so
    // let a few views arrive, with traffic, before the screenshot.)
    await page.setViewport({ width: 390, height: 844, isMobile: true, deviceScaleFactor: 2 });
    for (let i = 0; i < 12; i++) {
      await (await fetch(`${gateway.url}/api/trips/${(i % 4) + 1}`)).arrayBuffer();
      await new Promise((r) => setTimeout(r, 250));
    }
    await page.waitForFunction(() => window.__status?.updates >= 6, { timeout: 15_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(OUTPUT, 'status-page-phone.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});
