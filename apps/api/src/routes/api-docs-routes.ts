import { readFileSync } from 'node:fs';
import { Router } from 'express';

/**
 * RapiDoc's prebuilt, self-contained bundle (a classic script that defines <rapi-doc>), vendored
 * unchanged with its licences (apps/api/vendor/rapidoc/README.md: version, source, how to update):
 * no CDN, and no package in the production install.
 */
const RAPIDOC_FILE = new URL('../../vendor/rapidoc/rapidoc-min.js', import.meta.url);
/** Its 860 KB, read when first asked for and then kept, once per process. */
let rapidoc: string | undefined;

/**
 * The reader's view of /openapi.json. Fonts are the system's: RapiDoc's default would fetch Open
 * Sans from Google (load-fonts="false" stops it), which the CSP below forbids.
 * "Try" is off: the demo page is where requests are made.
 */
const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald API reference</title>
<script src="/assets/rapidoc-min.js"></script>
</head>
<body>
<rapi-doc spec-url="/openapi.json" render-style="read" theme="light" show-header="false" allow-try="false"
  allow-authentication="false" allow-server-selection="false" regular-font="system-ui, sans-serif"
  mono-font="ui-monospace, monospace" load-fonts="false"></rapi-doc>
</body>
</html>
`;

/**
 * GET /api-docs: the OpenAPI document rendered for people with RapiDoc: one prebuilt file with
 * nothing to install (swagger-ui-dist depends on @scarf/scarf, an install-time analytics ping;
 * redoc 3 on @redocly/redoc-opentelemetry; Scalar's and openapi-explorer's packages on trees of
 * dozens). Vendored, because the rapidoc package's own dependencies (~90 packages, native
 * tree-sitter builds and @scarf/scarf among them) are its build's inputs, which the bundle does
 * not need.
 * Its CSP allows scripts, data and requests from this origin only; inline styles are allowed on
 * this page alone, because RapiDoc's templates set style attributes.
 */
export function apiDocsRoutes(): Router {
  const router = Router();
  router.get('/api-docs', (_req, res) => {
    res
      .set({
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-cache',
        'Content-Security-Policy': [
          "default-src 'none'",
          "script-src 'self'",
          "style-src 'self' 'unsafe-inline'",
          "img-src 'self' data:",
          "connect-src 'self'",
          "base-uri 'none'",
          "form-action 'none'",
          "frame-ancestors 'none'",
        ].join('; '),
        'Referrer-Policy': 'no-referrer',
        'X-Content-Type-Options': 'nosniff',
      })
      .send(HTML);
  });
  router.get('/assets/rapidoc-min.js', (_req, res) => {
    rapidoc ??= readFileSync(RAPIDOC_FILE, 'utf8');
    res
      .set({ 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' })
      .send(rapidoc);
  });
  return router;
}
