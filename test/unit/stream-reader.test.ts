import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, createLogger, loadConfig } from '@herald/shared';
import { createFront, type Front, type FrontDeps } from '../../apps/api/src/front.ts';
import type { OpeningConnection } from '../../apps/api/src/stream/connection.ts';

// STREAM_READER (docs/api.md, "Configuration"): `bare` reads a plain event-stream head without
// node:http's parser (apps/api/src/http/bare/), `node` leaves every request to node:http.

describe('STREAM_READER', () => {
  it('is bare unless set, takes node, and refuses anything else at start-up, naming the variable', () => {
    expect(loadConfig({}).STREAM_READER).toBe('bare');
    expect(loadConfig({ STREAM_READER: 'node' }).STREAM_READER).toBe('node');
    expect(() => loadConfig({ STREAM_READER: 'http' })).toThrow(ConfigError);
    expect(() => loadConfig({ STREAM_READER: 'http' })).toThrow(/STREAM_READER="http": .*"bare".*"node"/);
  });
});

describe("the front's reader", () => {
  let front: Front | undefined;
  afterEach(async () => {
    await front?.close(0, () => {});
    front = undefined;
  });

  /** Whether node:http's parser read a stream's request (the bare path makes none), and a plain route's. */
  async function parsedBy(reader: FrontDeps['reader']): Promise<{ stream: boolean; route: boolean }> {
    const parsed = (socket: Socket): boolean => Boolean((socket as Socket & { parser?: unknown }).parser);
    const seen: { stream?: boolean; route?: boolean } = {};
    front = createFront({
      reader,
      logger: createLogger('test', 'silent'),
      streamEdge: (_req, _res, next) => next(),
      app: (req, res) => {
        seen.route = parsed(req.socket);
        res.end('route');
      },
      stream: {
        handle: async (req: IncomingMessage, connection: OpeningConnection) => {
          seen.stream = parsed(req.socket);
          connection.open('test', 'stream');
          connection.end();
        },
      } as unknown as FrontDeps['stream'],
    });
    const port = await front.listen(0, '127.0.0.1');
    const get = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve(body)).on('error', reject);
        })
          .on('error', reject)
          .end();
      });
    expect(await get('/v1/jobs/abc/events')).toBe('stream');
    expect(await get('/healthz')).toBe('route');
    return { stream: seen.stream!, route: seen.route! };
  }

  it('with bare, reads a plain stream request without node:http parser; with node, every request by it', async () => {
    expect(await parsedBy('bare')).toEqual({ stream: false, route: true });
    await front?.close(0, () => {});
    expect(await parsedBy('node')).toEqual({ stream: true, route: true });
  });
});
