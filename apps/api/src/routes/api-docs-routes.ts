import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Router } from 'express';

/** RapiDoc's prebuilt bundle (a classic script that defines <rapi-doc>), from node_modules: no CDN. */
const RAPIDOC_FILE = fileURLToPath(import.meta.resolve('rapidoc'));
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
 * GET /api-docs: the OpenAPI document rendered for people with RapiDoc (maintained, one
 * prebuilt file, no telemetry: swagger-ui-dist and redoc both pull in an analytics package).
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
