import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Router, type Response } from 'express';
import { clientBundleReader } from './client-bundle.ts';

const PAGE_FILE = new URL('../../public/index.html', import.meta.url);
/** The page's script modules, by the path the page loads each from (index.html, page.js's imports). */
const SCRIPTS = {
  '/assets/page.js': new URL('../../public/page.js', import.meta.url),
  '/assets/batch-view.js': new URL('../../public/batch-view.js', import.meta.url),
} as const;

/** sha256 CSP sources for each inline `<tag>` block of the page (none of them has attributes). */
function inlineHashes(html: string, tag: 'style'): string {
  const blocks = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))];
  return blocks
    .map(
      (block) =>
        `'sha256-${createHash('sha256')
          .update(block[1] ?? '')
          .digest('base64')}'`,
    )
    .join(' ');
}

/**
 * The demo page: one HTML file with its CSS inline and one script module (public/page.js, with
 * public/batch-view.js, type-checked, served as they are, read once at start-up), which imports
 * @herald/client (built ahead of time into one browser module: routes/client-bundle.ts). `/jobs/{id}` and `/batches/{id}` serve the same page, which then watches that job
 * or batch (a shareable link, whose watch token is in the fragment, `#token=…`: it never reaches
 * this route or any log). The CSP allows exactly
 * the page's inline style, scripts from this origin and requests to it: nothing external can
 * load, and a job id in the address never leaves in a Referer.
 */
export function pageRoutes(): Router {
  const html = readFileSync(PAGE_FILE, 'utf8');
  const headers = {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': [
      "default-src 'none'",
      "script-src 'self'",
      `style-src ${inlineHashes(html, 'style')}`,
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; '),
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  };
  const send = (res: Response): void => {
    res.set(headers).send(html);
  };
  const router = Router();
  router.get('/', (_req, res) => send(res));
  router.get('/jobs/:id', (_req, res) => send(res));
  router.get('/batches/:id', (_req, res) => send(res));
  const scriptHeaders = {
    'Content-Type': 'text/javascript; charset=utf-8',
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  for (const [path, file] of Object.entries(SCRIPTS)) {
    const script = readFileSync(file, 'utf8');
    router.get(path, (_req, res) => {
      res.set(scriptHeaders).send(script);
    });
  }
  // The page talks to Herald through @herald/client, as any other client does.
  const clientBundle = clientBundleReader();
  router.get('/assets/herald-client.js', (_req, res, next) => {
    try {
      res.set(scriptHeaders).send(clientBundle());
    } catch (error) {
      next(error);
    }
  });
  return router;
}
