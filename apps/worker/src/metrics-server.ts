import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '@herald/shared';

export interface MetricsServer {
  readonly port: number;
  /** http://127.0.0.1:<port>; scrape `${url}/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

const json = (status: number, body: unknown): [number, Record<string, string>, string] => {
  const text = JSON.stringify(body);
  return [status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) }, text];
};

/**
 * The worker's small HTTP server: GET /metrics (Prometheus text) and GET /healthz. A worker
 * whose port is taken keeps working without it (the error is logged): its jobs matter more than
 * its metrics, and several workers on one machine with the default port should still run.
 */
export async function startMetricsServer(registry: Registry, host: string, port: number, logger: Logger): Promise<MetricsServer | null> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    const reply = (status: number, headers: Record<string, string>, body: string): void => {
      res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(...json(405, { error: { code: 'method_not_allowed', message: 'Only GET' } }));
    } else if (path === '/healthz') {
      reply(...json(200, { status: 'ok' }));
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => reply(200, { 'Content-Type': registry.contentType }, text),
        (err: unknown) => {
          logger.error({ err }, 'metrics collection failed');
          reply(...json(500, { error: { code: 'internal', message: 'Could not collect metrics' } }));
        },
      );
    } else {
      reply(...json(404, { error: { code: 'not_found', message: 'No such route' } }));
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    logger.error({ err, port, host }, 'metrics server could not listen; this worker serves no /metrics (set METRICS_PORT)');
    return null;
  }
  const bound = (server.address() as AddressInfo).port;
  logger.info({ port: bound }, 'worker metrics listening');
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
