import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_HTTP_OPTIONS } from '../../apps/api/src/front.ts';
import { MAX_SIMPLE_HEAD_BYTES, parseSimpleHead } from '../../apps/api/src/http/bare/simple-head.ts';
import { fastestMs } from '../support/timing.ts';

// The event streams' requests are read without node:http's parser when they are plainly valid
// (http/bare/simple-head.ts). What it accepts it must read exactly as node:http would; everything
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

// Heads as EventSource (Chromium's, the eventsource package's) and curl send them: the request
// line, Host first, then a few of the headers they and the proxies before Herald add, each once.
const id22 = fc.stringMatching(/^[A-Za-z0-9_-]{22}$/);
const streamId = fc.tuple(fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), fc.nat(99)).map(([ms, seq]) => `${ms}-${seq}`);
const REAL_FIELDS: readonly fc.Arbitrary<readonly [string, string]>[] = [
  fc.constantFrom('text/event-stream', '*/*', 'text/event-stream, */*;q=0.5').map((v) => ['Accept', v] as const),
  fc
    .constantFrom(
      'curl/8.5.0',
      'curl/7.88.1',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0',
      'node',
    )
    .map((v) => ['User-Agent', v] as const),
  fc.constantFrom('no-cache', 'max-age=0').map((v) => ['Cache-Control', v] as const),
  fc.constant(['Pragma', 'no-cache'] as const),
  fc
    .oneof(
      streamId,
      fc.array(streamId, { minLength: 2, maxLength: 4 }).map((ids) => ids.join(',')),
    )
    .map((v) => ['Last-Event-ID', v] as const),
  fc.stringMatching(/^[A-Za-z0-9_-]{20,64}$/).map((token) => ['Authorization', `Bearer wt_${token}`] as const),
  fc.constantFrom('gzip, deflate, br, zstd', 'gzip, deflate', 'identity').map((v) => ['Accept-Encoding', v] as const),
  fc.constantFrom('en-US,en;q=0.9', 'de-DE,de;q=0.9,en;q=0.8').map((v) => ['Accept-Language', v] as const),
  fc.constantFrom('keep-alive', 'close').map((v) => ['Connection', v] as const),
  fc.constantFrom('http://127.0.0.1:8080', 'http://localhost:3000').map((v) => ['Origin', v] as const),
  id22.map((id) => ['Referer', `http://127.0.0.1:8080/jobs/${id}`] as const),
  fc.constantFrom('cors', 'no-cors').map((v) => ['Sec-Fetch-Mode', v] as const),
  fc.constant(['Sec-Fetch-Site', 'same-origin'] as const),
  fc.constant(['Sec-Fetch-Dest', 'empty'] as const),
  fc.constantFrom('127.0.0.1', '::1, 127.0.0.1').map((v) => ['X-Forwarded-For', v] as const),
  fc.uuid().map((v) => ['X-Request-Id', v] as const),
  fc.constant(['DNT', '1'] as const),
];
const realTarget = fc
  .tuple(fc.constantFrom('jobs', 'batches'), id22, fc.constantFrom('', '?typed=1'))
  .map(([kind, id, query]) => `/v1/${kind}/${id}/events${query}`);
/** A real head's lines (no CRLF CRLF yet): 4–8 fields, Host first, names in one case throughout. */
const realHeadLines = fc
  .tuple(
    realTarget,
    fc.constantFrom('1.1', '1.1', '1.1', '1.0'),
    fc.constantFrom('127.0.0.1:3000', 'localhost:8080', '[::1]:8081', 'localhost'),
    fc
      .shuffledSubarray([...REAL_FIELDS.keys()], { minLength: 3, maxLength: 7 })
      .chain((picked) => fc.tuple(...picked.map((i) => REAL_FIELDS[i]!))),
    fc.boolean(), // lower-cased names, as a proxy speaking HTTP/2 behind it may send them
    fc.constantFrom(': ', ': ', ': ', ':'),
  )
  .map(([target, version, host, fields, lower, colon]) => [
    `GET ${target} HTTP/${version}`,
    ...[['Host', host] as const, ...fields].map(([name, value]) => `${lower ? name.toLowerCase() : name}${colon}${value}`),
  ]);
const headOf = (lines: readonly string[]): Buffer => head(`${lines.join('\r\n')}\r\n\r\n`);

describe('parseSimpleHead against node:http', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    // node:http as the front configures it (front.ts): no Host check of node's own, for one.
    server = createServer(NODE_HTTP_OPTIONS, (req, res) => {
      res.setHeader('Connection', 'close');
      const { method, url, httpVersion, rawHeaders, headers } = req;
      res.end(JSON.stringify({ method, url, httpVersion, rawHeaders, headers }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** What node:http made of these bytes: its status, and the request as its handler saw it. */
  const nodeReads = (bytes: Buffer): Promise<{ status: number; request: Record<string, unknown> | null }> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        answer += chunk;
      });
      socket.on('error', reject).on('close', () => {
        const status = Number(answer.slice(9, 12));
        resolve({ status, request: status === 200 ? JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) : null });
      });
      socket.end(bytes);
    });

  /** Compares what both readers made of `bytes` (when the plain reader takes it); the number of fields compared, or null. */
  const compare = async (bytes: Buffer): Promise<number | null> => {
    const ours = parseSimpleHead(bytes);
    if (ours === null) return null; // node:http's to read
    const node = await nodeReads(bytes);
    expect(node.status, 'node:http refused a head the plain reader took').toBe(200);
    expect({
      method: ours.method,
      url: ours.url,
      httpVersion: `1.${ours.httpVersionMinor}`,
      rawHeaders: ours.rawHeaders,
      headers: ours.headers,
    }).toEqual(node.request);
    return ours.rawHeaders.length / 2;
  };

  const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
  // Values with what trips parsers up: padding, tabs, obs-text, the odd control byte.
  const oddValue = fc
    .array(fc.constantFrom('a', 'Z', '0', ' ', '\t', ',', ';', '"', '\u00e9', '\u00ff', '\u0001', '\u007f', '='), { maxLength: 12 })
    .map((chars) => chars.join(''));
  /** A head of odd names and values, with or without Host: a few of them plain enough to read. */
  const oddHeadLines = fc
    .tuple(
      fc.constantFrom('GET', 'OPTIONS', 'DELETE'),
      fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/),
      fc.constantFrom('1.0', '1.1'),
      fc.boolean(),
      fc.array(fc.tuple(token, oddValue), { maxLength: 6 }),
    )
    .map(([method, url, version, host, fields]) => [
      `${method} ${url} HTTP/${version}`,
      ...(host ? ['Host: x'] : []),
      ...fields.map(([name, value]) => `${name}:${value}`),
    ]);

  it('reads every head it accepts exactly as node:http does; every real one it accepts', async () => {
    const RUNS = 300;
    let real = 0;
    let compared = 0;
    let comparedWith3 = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 3, arbitrary: realHeadLines.map((lines) => ({ real: true, lines })) },
          { weight: 1, arbitrary: oddHeadLines.map((lines) => ({ real: false, lines })) },
        ),
        async ({ real: isReal, lines }) => {
          const bytes = headOf(lines);
          if (isReal) {
            real += 1;
            // An EventSource's or curl's head is always read plainly: the point of the plain reader.
            expect(parseSimpleHead(bytes), bytes.toString('latin1')).not.toBeNull();
          }
          const fields = await compare(bytes);
          if (fields === null) return;
          compared += 1;
          if (fields >= 3) comparedWith3 += 1;
        },
      ),
      { numRuns: RUNS },
    );
    // Not vacuous: most heads drawn were real ones (4–8 fields), and they were compared.
    expect(real).toBeGreaterThanOrEqual(RUNS / 2);
    expect(comparedWith3).toBeGreaterThanOrEqual(real);
    expect(compared).toBeGreaterThan(comparedWith3);
  });

  it('reads real heads with values up to the 16 KB limit as node:http does, each in a bounded time', async () => {
    const RUNS = 60;
    let compared = 0;
    let nearLimit = 0;
    const long = fc.record({
      lines: realHeadLines,
      name: fc.constantFrom('Cookie', 'X-Forwarded-Client-Cert', 'Tracestate', 'X-Amzn-Oidc-Data'), // none of REAL_FIELDS
      // The repeated piece of the value: what cookies and tokens are made of, blanks inside.
      piece: fc.stringMatching(/^[A-Za-z0-9=;,._ -]{1,40}$/),
      // How much of the room left the value fills: mostly all of it, to the byte.
      short: fc.nat(2048).map((n) => (n < 1024 ? 0 : n)),
    });
    await fc.assert(
      fc.asyncProperty(long, async ({ lines, name, piece, short }) => {
        const room = MAX_SIMPLE_HEAD_BYTES - headOf(lines).length - `\r\n${name}: x`.length + 1;
        const wanted = Math.max(1, room - short);
        // Starts and ends with a visible character, so the value is what is measured.
        const value = `x${piece.repeat(Math.ceil(wanted / piece.length)).slice(0, Math.max(0, wanted - 2))}x`.slice(0, wanted);
        const bytes = headOf([...lines, `${name}: ${value}`]);
        expect(bytes.length).toBeLessThanOrEqual(MAX_SIMPLE_HEAD_BYTES);
        if (bytes.length === MAX_SIMPLE_HEAD_BYTES) nearLimit += 1;
        const ours = parseSimpleHead(bytes);
        expect(
          fastestMs(() => parseSimpleHead(bytes)),
          `${bytes.length} bytes`,
        ).toBeLessThan(20);
        expect(ours, `a real head of ${bytes.length} bytes`).not.toBeNull();
        expect(await compare(bytes)).toBeGreaterThanOrEqual(5);
        compared += 1;
      }),
      { numRuns: RUNS },
    );
    expect(compared).toBe(RUNS);
    expect(nearLimit).toBeGreaterThanOrEqual(RUNS / 4);
  });
});

describe('parseSimpleHead leaves to node:http', () => {
  // What it must never read: node:http refuses these or reads them its own way (a repeated
  // header joined, dropped or refused, by name). One fault in an otherwise real head.
  const FAULTS = ['control byte', 'lone CR', 'lone LF', 'NUL', 'repeated name'] as const;
  const controlByte = fc.constantFrom(
    ...Array.from({ length: 0x20 }, (_, code) => code).filter((code) => ![0, 9, 10, 13].includes(code)),
    0x7f,
  );
  const faulty = fc.record({
    lines: realHeadLines,
    fault: fc.constantFrom(...FAULTS),
    byte: controlByte,
    line: fc.nat(),
    at: fc.nat(),
    repeatCase: fc.constantFrom('same', 'lower', 'upper'),
    repeatValue: fc.constantFrom('', 'x', 'text/event-stream', 'again'),
  });

  it('every head with a control byte, a lone CR or LF, a NUL or a repeated name (null)', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(faulty, ({ lines, fault, byte, line, at, repeatCase, repeatValue }) => {
        const faulted = [...lines];
        if (fault === 'repeated name') {
          // Host or any other field again, anywhere among the fields.
          const original = faulted[1 + (line % (faulted.length - 1))]!;
          const name = original.slice(0, original.indexOf(':'));
          const again = repeatCase === 'lower' ? name.toLowerCase() : repeatCase === 'upper' ? name.toUpperCase() : name;
          faulted.splice(1 + (at % faulted.length), 0, `${again}: ${repeatValue}`);
        } else {
          const char = { 'control byte': String.fromCharCode(byte), 'lone CR': '\r', 'lone LF': '\n', NUL: '\0' }[fault];
          // Anywhere in any line: the request line, a name, a value, either end of one.
          const index = line % faulted.length;
          const text = faulted[index]!;
          const position = at % (text.length + 1);
          faulted[index] = `${text.slice(0, position)}${char}${text.slice(position)}`;
        }
        const bytes = headOf(faulted);
        expect(parseSimpleHead(bytes), JSON.stringify(bytes.toString('latin1'))).toBeNull();
        seen.set(fault, (seen.get(fault) ?? 0) + 1);
      }),
      { numRuns: 500 },
    );
    for (const fault of FAULTS) expect(seen.get(fault) ?? 0, fault).toBeGreaterThanOrEqual(50);
  });
});

describe('parseSimpleHead in time linear in the head', () => {
  // Security review C1: blanks before a refused byte made the old header pattern backtrack in
  // cubic time (3.2 KB froze a replica 7 s; 16 KB had not returned after 9.7 CPU minutes).
  // The bounds are generous, for two busy cores: a linear read takes well under a millisecond.
  const PREFIX = 'GET /v1/jobs/j_1/events HTTP/1.1\r\nHost: x\r\nX: ';
  const SUFFIX = '\r\n\r\n';
  /** A head of MAX_SIMPLE_HEAD_BYTES: a value of blanks, then `last`, then more blanks. */
  const adversarial = (blanks: string, last: string): Buffer => {
    const room = MAX_SIMPLE_HEAD_BYTES - PREFIX.length - last.length - SUFFIX.length;
    const run = blanks.repeat(Math.ceil(room / blanks.length)).slice(0, room);
    return head(`${PREFIX}${run.slice(0, room - 8)}${last}${run.slice(0, 8)}${SUFFIX}`);
  };
  const REFUSED = [
    ...Array.from({ length: 9 }, (_, code) => String.fromCharCode(code)),
    ...Array.from({ length: 0x20 - 0x0a }, (_, i) => String.fromCharCode(0x0a + i)),
    '\x7f',
    '\r',
    '\n',
  ];

  it.each(['  ', '\t\t', ' \t'])('refuses a 16 KB head of blanks %j before each refused byte in milliseconds', (blanks) => {
    for (const last of REFUSED) {
      const bytes = adversarial(blanks, last);
      expect(bytes.length).toBe(MAX_SIMPLE_HEAD_BYTES);
      expect(parseSimpleHead(bytes)).toBeNull();
      expect(
        fastestMs(() => parseSimpleHead(bytes)),
        `byte ${last.charCodeAt(0)}`,
      ).toBeLessThan(50);
    }
  });

  it('reads heads with long values (thousands of characters, blanks included) in a bounded time', () => {
    // A value is runs of blanks and runs of one character, valid or not, up to ~16 KB in all.
    const run = fc.tuple(fc.constantFrom(' ', '\t', ' \t', 'a', '\u00a0', '\u00ff', '\u0001', '\u007f', '\r', '\n', ':'), fc.nat(4000));
    fc.assert(
      fc.property(fc.array(run, { minLength: 1, maxLength: 8 }), (runs) => {
        const value = runs
          .map(([chars, count]) => chars.repeat(count))
          .join('')
          .slice(0, MAX_SIMPLE_HEAD_BYTES - PREFIX.length - SUFFIX.length);
        const started = performance.now();
        const read = parseSimpleHead(head(`${PREFIX}${value}${SUFFIX}`));
        expect(performance.now() - started).toBeLessThan(500);
        // What it accepts is the value between its first and last character that is no blank.
        if (read) {
          const kept = [...value].map((char, i) => (char === ' ' || char === '\t' ? -1 : i)).filter((i) => i >= 0);
          expect(read.headers.x).toBe(kept.length === 0 ? '' : value.slice(kept[0], kept.at(-1)! + 1));
        }
      }),
      { numRuns: 200 },
    );
  });
});
