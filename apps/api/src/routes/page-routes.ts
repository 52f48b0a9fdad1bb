import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Router, type Response } from 'express';

const PAGE_FILE = new URL('../../public/index.html', import.meta.url);
const SCRIPT_FILE = new URL('../../public/page.js', import.meta.url);
/** Where the page loads its script from (index.html's `<script type="module" src>`). */
const SCRIPT_PATH = '/assets/page.js';

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
 * The demo page: no build step, one HTML file with its CSS inline and one script module
 * (public/page.js, type-checked, served as it is), both read once at start-up. `/jobs/{id}`
 * serves the same page, which then watches that job (a shareable link). The CSP allows exactly
 * the page's inline style, scripts from this origin and requests to it: nothing external can
 * load, and a job id in the address never leaves in a Referer.
 */
export function pageRoutes(): Router {
  const html = readFileSync(PAGE_FILE, 'utf8');
  const script = readFileSync(SCRIPT_FILE, 'utf8');
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
  router.get(SCRIPT_PATH, (_req, res) => {
    res
      .set({ 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' })
      .send(script);
  });
  return router;
}
