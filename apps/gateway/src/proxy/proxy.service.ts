import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createProxyMiddleware, fixRequestBody, type RequestHandler } from 'http-proxy-middleware';
import type { EdgeRequest } from '../edge-auth/edge-auth.middleware.js';
import { UPSTREAM_URLS } from '../upstream.config.js';

/** Headers only the gateway may set: whatever a client sends under these names is dropped. */
export const IDENTITY_HEADERS = ['x-user-id', 'x-user-role', 'x-gateway-auth'] as const;

type ProxiedRequest = IncomingMessage & EdgeRequest & { body?: unknown };

/**
 * `/api/*` → the demo, `/api` stripped, upstreams taken in round robin. The validated identity is
 * forwarded in `X-User-Id` / `X-User-Role` with `X-Gateway-Auth: <GATEWAY_SHARED_SECRET>`, which the
 * demo checks before believing them.
 */
@Injectable()
export class ProxyService {
  private readonly logger = new Logger('Proxy');
  private readonly handler: RequestHandler<ProxiedRequest, ServerResponse>;
  private next = 0;

  constructor(@Inject(UPSTREAM_URLS) private readonly upstreams: string[], config: ConfigService) {
    const secret = config.get<string>('GATEWAY_SHARED_SECRET') ?? '';
    this.handler = createProxyMiddleware<ProxiedRequest, ServerResponse>({
      target: upstreams[0],
      router: () => this.pick(),
      changeOrigin: true,
      // X-Forwarded-For/-Proto/-Host for the demo's logs; the demo does not take identity from them.
      xfwd: true,
      pathRewrite: (path) => path.replace(/^\/api(?=\/|\?|$)/, '') || '/',
      on: {
        proxyReq: (proxyReq, req) => {
          for (const name of IDENTITY_HEADERS) proxyReq.removeHeader(name);
          if (req.user) {
            proxyReq.setHeader('x-user-id', req.user.id);
            proxyReq.setHeader('x-user-role', req.user.role);
            if (secret !== '') proxyReq.setHeader('x-gateway-auth', secret);
          }
          // Nest's body parser has read the stream already; this writes the parsed body back out.
          fixRequestBody(proxyReq, req);
        },
        error: (error, _req, res) => {
          this.logger.warn(`Upstream request failed: ${error.message}`);
          if (!('writeHead' in res)) return void res.destroy();
          if (res.headersSent) return void res.end();
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ statusCode: 502, error: 'Bad Gateway', message: 'the upstream did not answer' }));
        },
      },
    });
  }

  forward(req: ProxiedRequest, res: ServerResponse): Promise<void> {
    return this.handler(req, res);
  }

  private pick(): string {
    const url = this.upstreams[this.next % this.upstreams.length]!;
    this.next = (this.next + 1) % this.upstreams.length;
    return url;
  }
}
