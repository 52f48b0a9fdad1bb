import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSimpleHead } from '../../apps/api/src/http/simple-head.ts';

// The event streams' requests are read without node:http's parser when they are plainly valid
// (http/simple-head.ts). What it accepts it must read exactly as node:http would; everything
// else it leaves to node:http (null).

const head = (text: string): Buffer => Buffer.from(text, 'latin1');
const EVENTSOURCE_HEAD =
  'GET /v1/jobs/j_1/events?typed=1 HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nAccept: text/event-stream\r\n' +
  'Cache-Control: no-cache\r\nLast-Event-ID: 1700000000000-3\r\nAuthorization: Bearer wt_x\r\n\r\n';

describe('parseSimpleHead', () => {
  it('reads an EventSource’s request: method, target, version, headers as sent and lower-cased', () => {
    expect(parseSimpleHead(head(EVENTSOURCE_HEAD))).toEqual({
      method: 'GET',
      url: '/v1/jobs/j_1/events?typed=1',
      httpVersionMinor: 1,
      rawHeaders: [
        'Host',
        '127.0.0.1:3000',
        'Accept',
        'text/event-stream',
        'Cache-Control',
        'no-cache',
        'Last-Event-ID',
        '1700000000000-3',
        'Authorization',
        'Bearer wt_x',
      ],
      headers: {
        host: '127.0.0.1:3000',
        accept: 'text/event-stream',
        'cache-control': 'no-cache',
        'last-event-id': '1700000000000-3',
        authorization: 'Bearer wt_x',
      },
    });
    expect(parseSimpleHead(head('GET / HTTP/1.0\r\nX:  padded \t\r\n\r\n'))).toMatchObject({
      httpVersionMinor: 0,
      headers: { x: 'padded' },
    });
  });

  it.each([
    ['an incomplete head', EVENTSOURCE_HEAD.slice(0, -2)],
    ['bytes after the head (a pipelined request)', `${EVENTSOURCE_HEAD}GET / HTTP/1.1\r\n\r\n`],
    ['a body', 'GET /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n'],
    ['a chunked body', 'GET /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['an upgrade', 'GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['Expect: 100-continue', 'GET /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n'],
    ['a repeated header', 'GET /v1/events HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n'],
    ['a folded header line', 'GET /v1/events HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n'],
    ['a bare LF', 'GET /v1/events HTTP/1.1\nHost: x\r\n\r\n'],
    ['a control byte in a value', 'GET /v1/events HTTP/1.1\r\nHost: x\u0001\r\n\r\n'],
    ['DEL in a value', 'GET /v1/events HTTP/1.1\r\nHost: x\u007f\r\n\r\n'],
    ['a space in a name', 'GET /v1/events HTTP/1.1\r\nX A: 1\r\n\r\n'],
    ['an absolute-form target', 'GET http://x/v1/events HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['HTTP/2.0', 'GET /v1/events HTTP/2.0\r\nHost: x\r\n\r\n'],
    ['a lower-case method', 'get /v1/events HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a header named __proto__', 'GET /v1/events HTTP/1.1\r\n__proto__: x\r\n\r\n'],
    ['a head over 16 KB', `GET /v1/events HTTP/1.1\r\nX: ${'a'.repeat(16 * 1024)}\r\n\r\n`],
  ])('leaves %s to node:http', (_what, text) => {
    expect(parseSimpleHead(head(text))).toBeNull();
  });
});

describe('parseSimpleHead against node:http', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.setHeader('Connection', 'close');
      const { method, url, httpVersion, rawHeaders, headers } = req;
      res.end(JSON.stringify({ method, url, httpVersion, rawHeaders, headers }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** What node:http made of these bytes: the request as its handler saw it, or its refusal. */
  const nodeReads = (bytes: Buffer): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        answer += chunk;
      });
      socket.on('error', reject).on('close', () => resolve(answer.slice(answer.indexOf('\r\n\r\n') + 4)));
      socket.end(bytes);
    });

  const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
  // Values with what trips parsers up: padding, tabs, obs-text, the odd control byte.
  const value = fc.array(fc.constantFrom('a', 'Z', '0', ' ', '\t', ',', ';', '"', '\u00e9', '\u00ff', '\u0001', '\u007f', '='), {
    maxLength: 12,
  });
  const target = fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/);

  it('reads every head it accepts exactly as node:http does', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'OPTIONS', 'DELETE'),
        target,
        fc.constantFrom('1.0', '1.1'),
        fc.array(fc.tuple(token, value), { maxLength: 6 }),
        async (method, url, version, fields) => {
          const lines = [`${method} ${url} HTTP/${version}`, 'Host: x', ...fields.map(([name, chars]) => `${name}:${chars.join('')}`)];
          const bytes = head(`${lines.join('\r\n')}\r\n\r\n`);
          const ours = parseSimpleHead(bytes);
          if (ours === null) return; // node:http's to read
          accepted += 1;
          const node = JSON.parse(await nodeReads(bytes)) as Record<string, unknown>;
          expect({
            method: ours.method,
            url: ours.url,
            httpVersion: `1.${ours.httpVersionMinor}`,
            rawHeaders: ours.rawHeaders,
            headers: ours.headers,
          }).toEqual(node);
        },
      ),
      { numRuns: 300 },
    );
    // Not vacuous: a good share of the heads were plain enough to be compared.
    expect(accepted).toBeGreaterThan(60);
  });
});
