import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The page's files, read once at start-up: ours from `assets/` next to this module (the build
 * copies them into dist), uPlot from node_modules. Nothing is fetched from a CDN, so the page works
 * on a network without internet.
 */
export function loadStatusAssets(): Map<string, Asset> {
  const own = join(dirname(fileURLToPath(import.meta.url)), 'assets');
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
  const files: Array<[string, string, string]> = [
    ['status.js', join(own, 'status.js'), 'text/javascript; charset=utf-8'],
    ['status.css', join(own, 'status.css'), 'text/css; charset=utf-8'],
    ['uplot.js', join(uplot, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['uplot.css', join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8'],
    ['index.html', join(own, 'status.html'), 'text/html; charset=utf-8'],
    ['login.html', join(own, 'login.html'), 'text/html; charset=utf-8'],
  ];
  return new Map(files.map(([name, path, type]) => [name, { body: readFileSync(path), type }]));
}
