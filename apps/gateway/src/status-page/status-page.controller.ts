import type { IncomingMessage, ServerResponse } from 'node:http';
import { Controller, Get, HttpCode, NotFoundException, Param, Post, Req, Res, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { RateLimit } from 'nestjs-redis-kit';
import { loadStatusAssets, type Asset } from './status-page.assets.js';
import { STATUS_COOKIE, StatusPageAuth } from './status-page.auth.js';
import { StatusPageFeed, type StatusView } from './status-page.feed.js';

type Request = IncomingMessage & { body?: unknown; protocol?: string };

// The page loads only its own files and talks only to its own origin; it cannot be framed.
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
const PUBLIC_ASSETS = new Set(['status.js', 'status.css', 'uplot.js', 'uplot.css']);
const COOKIE_MAX_AGE_S = 12 * 3_600;

/**
 * The live status page: `GET /status` (the page, or a login form with 401), `GET /status/events`
 * (server-sent events, one view per interval), `GET /status/snapshot` (the same view as JSON, for
 * scripts). Everything but the static files needs GATEWAY_STATUS_TOKEN or an admin session.
 */
@Controller('status')
export class StatusPageController {
  private readonly assets: Map<string, Asset> = loadStatusAssets();

  constructor(
    private readonly auth: StatusPageAuth,
    private readonly feed: StatusPageFeed,
  ) {}

  @Get()
  async page(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
    const allowed = await this.auth.allows(this.auth.credentialOf(req));
    this.sendHtml(res, allowed ? 200 : 401, allowed ? 'index.html' : 'login.html');
  }

  // Guessing the token is limited per address, on top of the gateway's default limit.
  @Post('login')
  @RateLimit({ limit: 10, window: '1m', name: 'status-login', by: 'ip' })
  async login(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
    const body = req.body as { credential?: unknown } | undefined;
    const credential = typeof body?.credential === 'string' ? body.credential.trim() : '';
    if (!(await this.auth.allows(credential))) return this.sendHtml(res, 401, 'login.html', 'That token or session was not accepted.');
    const secure = req.protocol === 'https' ? '; Secure' : '';
    res.writeHead(303, {
      ...PAGE_HEADERS,
      location: '/status',
      'set-cookie': `${STATUS_COOKIE}=${encodeURIComponent(credential)}; Path=/status; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_S}${secure}`,
    });
    res.end();
  }

  @Post('logout')
  logout(@Res() res: ServerResponse): void {
    res.writeHead(303, { ...PAGE_HEADERS, location: '/status', 'set-cookie': `${STATUS_COOKIE}=; Path=/status; HttpOnly; SameSite=Strict; Max-Age=0` });
    res.end();
  }

  @Get('snapshot')
  @HttpCode(200)
  async snapshot(@Req() req: Request): Promise<StatusView> {
    await this.require(req);
    return this.feed.view();
  }

  @Get('events')
  async events(@Req() req: Request, @Res() res: ServerResponse): Promise<void> {
    const credential = await this.require(req);
    if (!this.feed.hasRoom()) throw new ServiceUnavailableException('too many open status pages (GATEWAY_STATUS_MAX_CLIENTS); try again later');
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-content-type-options': 'nosniff' });
    res.write('retry: 2000\n\n');
    this.feed.add(res, () => this.auth.allows(credential));
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() res: ServerResponse): void {
    const asset = PUBLIC_ASSETS.has(name) ? this.assets.get(name) : undefined;
    if (!asset) throw new NotFoundException();
    res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' });
    res.end(asset.body);
  }

  /** The request's credential once accepted; 401 otherwise. */
  private async require(req: Request): Promise<string> {
    const credential = this.auth.credentialOf(req);
    if (!credential || !(await this.auth.allows(credential))) {
      throw new UnauthorizedException('the status page needs GATEWAY_STATUS_TOKEN or an admin session: Authorization: Bearer <token>, or log in at /status');
    }
    return credential;
  }

  private sendHtml(res: ServerResponse, status: number, name: 'index.html' | 'login.html', error?: string): void {
    let body = this.assets.get(name)!.body;
    // Only fixed text goes in: nothing from the request is echoed into the page.
    if (error) body = Buffer.from(body.toString('utf8').replace('<!--error-->', `<p class="error" role="alert">${error}</p>`));
    res.writeHead(status, { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' });
    res.end(body);
  }
}
