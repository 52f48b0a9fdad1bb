import fc from 'fast-check';
import http, { type IncomingHttpHeaders, type Server } from 'node:http';
import net from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventPublisher, keys } from '@herald/shared';
import { request, submit } from '../support/http.ts';
import { commandCalls, keysMatching } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { stalledReader } from '../support/stalled-reader.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Hostile HTTP: property-based fuzzing of every route (bodies, headers, ids, cursors, queries,
// methods, raw bytes) and slow-loris sockets. Whatever arrives, docs/api.md's promises hold: no 5xx
// but 503, errors are `{"error": {"code", "message"}}`, no stack trace, an answer within a bound,
// and the process keeps serving.

const ANSWER_MS = 3000;
const MAX_TEXT_CHARS = 1000;
/** job-routes.ts: room for MAX_TEXT_CHARS characters once JSON-escaped. */
const BODY_LIMIT_BYTES = MAX_TEXT_CHARS * 6 + 64 * 1024;
const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'] as const;

let system: TestSystem;
let api: string;
let server: Server;
let port: number;
let queuedJob: string;

beforeAll(async () => {
  // No worker: jobs stay queued, so their event streams stay open and cancelling them works.
  // The fuzzer sends hundreds of submissions a minute from one address: no per-IP limit here
  // (limits.test.ts tests it).
  system = await startSystem({
    replicas: 1,
    workers: 0,
    env: { MAX_TEXT_CHARS: String(MAX_TEXT_CHARS), SUBMIT_RATE_PER_IP: '0' },
  });
  api = system.apis[0]!.url;
  server = system.apis[0]!.server;
  port = Number(new URL(api).port);
  queuedJob = (await submit(api, BEES)).body.jobId;
});
afterAll(() => system.close());

// ---------------------------------------------------------------------------------------------
// Sending anything, and what every answer must look like

interface Attempt {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** A 200 event stream: only its status and headers were read, then the request was aborted. */
  readonly sse: boolean;
}

const show = (attempt: Attempt): string => {
  const body = attempt.body === undefined ? '' : ` body=${JSON.stringify(String(attempt.body).slice(0, 120))}(${attempt.body.length})`;
  const headers = JSON.stringify(attempt.headers ?? {}, (_k, v: unknown) =>
    typeof v === 'string' && v.length > 120 ? `${v.slice(0, 120)}…(${v.length})` : v,
  );
  return `${attempt.method} ${attempt.path.slice(0, 300)} ${headers}${body}`;
};

/** One request on a fresh connection with node:http (any method, any latin1 header value, any body). */
function send(attempt: Attempt): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: attempt.method,
        path: attempt.path,
        // keep-alive, as browsers and fetch send it: on a `Connection: close` request Node closes
        // the socket right after an early answer (404, 415) while the body is still arriving, and
        // the client's TCP stack may then drop that answer for the reset (no lingering close).
        // A body is framed whatever the method: node:http sends GET/DELETE/OPTIONS bodies
        // without a Content-Length, which the server rightly reads as the next (garbage) request.
        headers: {
          connection: 'keep-alive',
          ...(attempt.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(attempt.body)) }),
          ...attempt.headers,
        },
        agent: false,
        signal: AbortSignal.timeout(ANSWER_MS),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status === 200 && (res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          resolve({ status, headers: res.headers, body: '', sse: true });
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), sse: false }));
        res.on('error', (error) => reject(new Error(`${show(attempt)}: ${error.message}`)));
      },
    );
    req.on('error', (error) => reject(new Error(`no answer (${error.message}; bound ${ANSWER_MS} ms): ${show(attempt)}`)));
    req.end(attempt.body);
  });
}

const STACK_TRACE = /\n\s*at \S|\bat \S+ \(|:\d+:\d+\)|node_modules|node:internal/;
const leaksInternals = (text: string): boolean => STACK_TRACE.test(text) || text.includes(process.cwd());

/** What docs/api.md promises for any request at all. */
function expectSound(attempt: Attempt, answer: Answer): void {
  const where = `${show(attempt)}\n→ ${answer.status} ${JSON.stringify(answer.headers)} ${answer.body.slice(0, 300)}`;
  expect(leaksInternals(answer.body), `a stack trace or path in the body: ${where}`).toBe(false);
  expect(answer.status >= 500 && answer.status !== 503, `a 5xx other than 503: ${where}`).toBe(false);
  expect(answer.status, where).toBeGreaterThanOrEqual(200);
  if (answer.sse) {
    expect(answer.headers['content-type'], where).toBe('text/event-stream; charset=utf-8');
    expect(answer.headers['cache-control'], where).toBe('no-cache, no-transform');
    expect(answer.headers['x-accel-buffering'], where).toBe('no');
  }
  if (answer.status < 400 || attempt.method === 'HEAD') return;
  expect(String(answer.headers['content-type']), `an error without JSON: ${where}`).toMatch(/^application\/json/);
  let body: { error?: { code?: unknown; message?: unknown } };
  try {
    body = JSON.parse(answer.body) as typeof body;
  } catch {
    throw new Error(`an error body that is not JSON: ${where}`);
  }
  expect(typeof body.error?.code === 'string' && body.error.code.length > 0, `no error.code: ${where}`).toBe(true);
  expect(typeof body.error?.message === 'string' && body.error.message.length > 0, `no error.message: ${where}`).toBe(true);
  if (answer.status === 503) {
    // docs/api.md, "Error codes": each 503 says when to try again.
    const code = String(body.error?.code);
    expect(code in RETRY_AFTER_503, `an undocumented 503: ${where}`).toBe(true);
    expect(answer.headers['retry-after'], where).toBe(RETRY_AFTER_503[code]);
  }
}

/** The `Retry-After` docs/api.md gives each 503 the API answers. */
const RETRY_AFTER_503: Readonly<Record<string, string>> = {
  redis_unavailable: '1',
  redis_out_of_memory: '5',
  draining: '1',
  replica_full: '2',
};

/**
 * Node refuses a request head over 16 KiB (431) and resets the connection while a body is still
 * arriving, so the client may never read the 431: the fuzzers stay under the limit (the 431
 * itself is a known-bug repro below).
 */
const NODE_MAX_HEADER_BYTES = 16 * 1024;
const headBytes = (attempt: Pick<Attempt, 'method' | 'path' | 'headers'>): number =>
  Buffer.byteLength(
    `${attempt.method} ${attempt.path} HTTP/1.1\r\nhost: 127.0.0.1:65535\r\nconnection: keep-alive\r\ncontent-length: 1000000\r\n\r\n`,
  ) + Object.entries(attempt.headers ?? {}).reduce((sum, [name, value]) => sum + Buffer.byteLength(`${name}: ${value}\r\n`), 0);
const fitsNode = (attempt: Pick<Attempt, 'method' | 'path' | 'headers'>): boolean => headBytes(attempt) < NODE_MAX_HEADER_BYTES - 512;

async function sendSound(attempt: Attempt): Promise<Answer> {
  const answer = await send(attempt);
  expectSound(attempt, answer);
  return answer;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const char = (codes: fc.Arbitrary<number>) => codes.map((code) => String.fromCharCode(code));
/** Bytes node:http lets through in a header value: HTAB, visible ASCII, space and obs-text. */
const headerChar = char(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(0x09), fc.integer({ min: 0x80, max: 0xff })));
const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength });
const longText = (min: number, max: number) =>
  fc.tuple(fc.constantFrom('k', 'é', '0', ' ', '\u00ff'), fc.integer({ min, max })).map(([c, n]) => c.repeat(n));
/** Any Unicode, well-formed (encodeURIComponent and URLSearchParams need that). */
const unicode = (maxLength = 40) => fc.string({ unit: 'binary', maxLength }).map((s) => s.toWellFormed());
/**
 * Raw (unencoded) visible ASCII for paths, '%' included so escapes come out malformed too. Bytes
 * past 0x7e make Node refuse the request line (and reset a connection still sending its body):
 * the raw-bytes property sends those.
 */
const rawPathText = (maxLength = 30) =>
  fc.string({
    unit: fc.oneof(fc.constantFrom(...'%/.?#;:@&=+$,~!*\'()[]{}|\\^`"<>-_'), char(fc.integer({ min: 0x21, max: 0x7e }))),
    maxLength,
  });
const percentGarbage = fc.constantFrom('%', '%E0', '%E0%A4', '%zz', '%%', '%C0%AF', '%ED%A0%80', '%FF', '%2', '%u0041');

const wellFormedId = fc.stringMatching(/^[A-Za-z0-9_-]{22}$/);
const idSegment = (known: string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(known) },
    { weight: 2, arbitrary: wellFormedId },
    { weight: 2, arbitrary: unicode().map(encodeURIComponent) },
    { weight: 2, arbitrary: rawPathText() },
    { weight: 1, arbitrary: fc.tuple(rawPathText(8), percentGarbage, rawPathText(8)).map((parts) => parts.join('')) },
    { weight: 1, arbitrary: fc.integer({ min: 23, max: 8000 }).map((n) => 'A'.repeat(n)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('', '.', '..', '%2e%2e', '..%2F..%2Fetc%2Fpasswd', '%00', '%2F', 'events', '%20', '+', '%0d%0a'),
    },
  );

/** Whether node:http will send it as a header value. */
const headerSafe = (text: string): boolean => /^[\t\x20-\x7e\x80-\xff]*$/.test(text);
/** Node's parser strips this from both ends of a header value (RFC 9110 OWS). */
const stripOws = (text: string): string => text.replace(/^[ \t]+|[ \t]+$/g, '');

/** Event-cursor-ish text: valid ids, near misses, and garbage. */
const cursorText = fc.oneof(
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 16n }), fc.bigInt({ min: 0n, max: 10n ** 16n })).map(([ms, seq]) => `${ms}-${seq}`),
  fc.constantFrom(
    '0-0',
    '0',
    '-',
    '1-',
    '-1',
    '-1-0',
    '1-0-0',
    '1.5-0',
    '1e3-0',
    '0x10-0',
    ' 1-0 ',
    '1 -0',
    '１-0',
    '999999999999999-999999999999999',
    '1000000000000000-0',
    '$',
    '+',
    '*',
    '>',
    'null',
    'undefined',
    '(0-0',
    '[]',
  ),
  headerText(40),
  longText(100, 1000), // ×6 once %-encoded: two of them stay under Node's 16 KiB for a request head
);

const queryString = fc.oneof(
  fc.constant(''),
  fc.dictionary(unicode(12), unicode(30), { maxKeys: 4 }).map((d) => `?${new URLSearchParams(d)}`),
  fc
    .array(
      cursorText.map((c) => c.toWellFormed()),
      { minLength: 1, maxLength: 3 },
    )
    .map((values) => `?${new URLSearchParams(values.map((v): [string, string] => ['lastEventId', v]))}`),
  rawPathText(40).map((q) => `?${q}`),
  fc.constantFrom(
    '?',
    '??',
    '?&&&',
    '?=',
    '?a[b][c][d]=1&a=2',
    '?__proto__[x]=1',
    '?lastEventId',
    '?lastEventId=&lastEventId=',
    `?a=${'x'.repeat(4000)}`,
  ),
);

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json;charset=UTF-8',
    'application/json; charset=latin1',
    'application/json; charset=utf-16le',
    'application/json; charset=utf-32',
    'application/json; charset=nope',
    'application/json; charset',
    'application/json;;',
    'application/json; =',
    'application/json, text/plain',
    'application/vnd.api+json',
    'application/merge-patch+json',
    'text/json',
    'text/plain',
    'text/event-stream',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    '*/*',
    'application/*',
    '',
    ';',
    '/',
    'json',
  ),
  headerText(60),
);
const contentEncoding = fc.constantFrom(
  'identity',
  'IDENTITY',
  'gzip',
  'deflate',
  'br',
  'x-gzip',
  'compress',
  'gzip, gzip',
  'zstd',
  '',
  ' ',
);
const idempotencyKey = fc.oneof(fc.constantFrom('k1', 'k2', ' ', ''), headerText(80), longText(1000, 12_000));

const jsonText = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  // The right shape with arbitrary parts, to get past the first checks.
  fc
    .record(
      {
        text: fc.oneof(
          unicode(300),
          fc.jsonValue(),
          fc.integer({ min: MAX_TEXT_CHARS - 5, max: MAX_TEXT_CHARS + 5 }).map((n) => 'a'.repeat(n)),
        ),
        options: fc.oneof(
          fc.record({ maxSentences: fc.oneof(fc.integer({ min: -2, max: 25 }), fc.jsonValue()) }, { requiredKeys: [] }),
          fc.jsonValue(),
        ),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '{"text":"a","__proto__":{"x":1}}',
    '{"text":"a","constructor":{"prototype":{}}}',
    '{"text":"\\ud800"}',
    '{"text":"a","text":"b"}',
    '{"text":"a"} {"text":"b"}',
    '{"text":"a"',
  ),
);
const deepJson = fc
  .tuple(
    fc.integer({ min: 1, max: 20_000 }),
    fc.constantFrom<[string, string]>(['[', ']'], ['{"a":', '}'], ['{"text":"x","options":{"maxSentences":', '}}']),
  )
  .map(([depth, [open, close]]) => `${open.repeat(depth)}1${close.repeat(depth)}`);
const body = fc.oneof(
  { weight: 4, arbitrary: jsonText },
  { weight: 2, arbitrary: unicode(200) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: longText(BODY_LIMIT_BYTES - 100, BODY_LIMIT_BYTES * 2).map((t) => JSON.stringify({ text: t })) },
  { weight: 1, arbitrary: longText(MAX_TEXT_CHARS, 150_000) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
  {
    weight: 2, // invalid UTF-8 inside an otherwise valid body
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 60 })
      .map((bytes) =>
        Buffer.concat([Buffer.from('{"text":"'), Buffer.from(bytes.filter((b) => b !== 0x22 && b !== 0x5c)), Buffer.from('"}')]),
      ),
  },
  { weight: 1, arbitrary: deepJson },
  { weight: 1, arbitrary: jsonText.map((t) => gzipSync(t)) },
);

// ---------------------------------------------------------------------------------------------

describe('fuzzing: whatever arrives, the contract holds', () => {
  it('POST /v1/jobs with arbitrary bodies, content types, encodings and Idempotency-Keys', async () => {
    const hostile = fc
      .record(
        { body, contentType, contentEncoding, idempotencyKey, query: fc.constantFrom('', '?x=1', '?%zz') },
        { requiredKeys: ['body', 'query'] },
      )
      .map(
        ({ body, query, ...headers }): Attempt => ({
          method: 'POST',
          path: `/v1/jobs${query}`,
          headers: Object.fromEntries(
            Object.entries({
              'content-type': headers.contentType,
              'content-encoding': headers.contentEncoding,
              'idempotency-key': headers.idempotencyKey,
            }).filter((entry): entry is [string, string] => entry[1] !== undefined),
          ),
          body,
        }),
      );
    // Valid submissions too (some compressed, which are refused: 415; some replayed under a key),
    // so the run goes past the first checks and meets 202, 200 and 409.
    const encoders = { identity: (b: Buffer) => b, gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
    const valid = fc
      .record({
        text: unicode(300).filter((t) => t.trim() !== ''),
        options: fc.option(fc.record({ maxSentences: fc.integer({ min: 1, max: 20 }) }, { requiredKeys: [] }), { nil: undefined }),
        contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8'),
        encoding: fc.constantFrom(...(Object.keys(encoders) as (keyof typeof encoders)[])),
        key: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
      })
      .map(
        ({ text, options, contentType, encoding, key }): Attempt => ({
          method: 'POST',
          path: '/v1/jobs',
          headers: { 'content-type': contentType, 'content-encoding': encoding, ...(key ? { 'idempotency-key': key } : {}) },
          body: encoders[encoding](Buffer.from(JSON.stringify(options ? { text, options } : { text }))),
        }),
      );
    const counts = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 3, arbitrary: hostile }, { weight: 1, arbitrary: valid }).filter(fitsNode), async (attempt) => {
        const answer = await sendSound(attempt);
        counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
        const where = show(attempt);
        expect([200, 202, 400, 409, 413, 415], where).toContain(answer.status);
        if (answer.status === 200 || answer.status === 409)
          expect(stripOws(attempt.headers?.['idempotency-key'] ?? ''), where).not.toBe('');
        if (answer.status < 300) {
          const created = JSON.parse(answer.body) as { jobId: string };
          expect(created.jobId, where).toMatch(/^[A-Za-z0-9_-]{22}$/);
          expect(answer.headers.location, where).toBe(`/v1/jobs/${created.jobId}`);
        }
      }),
      { numRuns: 300 },
    );
    // The run reached past validation, not just the first 4xx.
    expect(counts.get(202) ?? 0).toBeGreaterThan(0);
    expect(counts.get(400) ?? 0).toBeGreaterThan(0);
    expect(counts.get(415) ?? 0).toBeGreaterThan(0);
  });

  it('any method, path, id, query and header values', async () => {
    const otherPaths = fc.constantFrom(
      '/',
      '/healthz',
      '/readyz',
      '/metrics',
      '/v1/jobs',
      '/v1/jobs/',
      '/v1',
      '/v2/jobs',
      '/index.html',
      '/favicon.ico',
      '//v1/jobs',
      '/V1/JOBS',
    );
    const path = fc.oneof(
      {
        weight: 5,
        arbitrary: fc
          .tuple(idSegment(queuedJob), fc.constantFrom('', '/events', '/events/', '/x', '/events/events'), queryString)
          .map(([id, suffix, q]) => `/v1/jobs/${id}${suffix}${q}`),
      },
      { weight: 1, arbitrary: fc.tuple(idSegment(queuedJob), queryString).map(([id, q]) => `/jobs/${id}${q}`) },
      { weight: 2, arbitrary: fc.tuple(otherPaths, queryString).map(([p, q]) => `${p}${q}`) },
      { weight: 1, arbitrary: rawPathText(60).map((p) => `/${p}`) },
      { weight: 1, arbitrary: fc.constantFrom('*', 'http://x/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA/events', `http://127.0.0.1/healthz`) },
    );
    const headers = fc.record(
      {
        'content-type': contentType,
        'last-event-id': cursorText.filter(headerSafe),
        'idempotency-key': idempotencyKey,
        accept: fc.constantFrom('text/event-stream', '*/*', 'application/json', 'text/html', '', 'garbage/'),
        'x-fuzz': headerText(200),
      },
      { requiredKeys: [] },
    );
    // The positive control: the same shapes with nothing hostile in them succeed, so what the
    // property sees comes from what the fuzzer changed, not from a server that refuses everything.
    const cancellable = (await submit(api, BEES)).body.jobId as string;
    const controls: [Attempt, number][] = [
      [{ method: 'GET', path: `/v1/jobs/${queuedJob}`, headers: { accept: 'application/json' } }, 200],
      [{ method: 'HEAD', path: `/v1/jobs/${queuedJob}` }, 200],
      [{ method: 'GET', path: `/v1/jobs/${queuedJob}/events`, headers: { accept: 'text/event-stream' } }, 200],
      [{ method: 'GET', path: `/v1/jobs/${queuedJob}/events?lastEventId=0-1`, headers: { 'last-event-id': '0-1' } }, 200],
      [{ method: 'GET', path: `/jobs/${queuedJob}`, headers: { accept: 'text/html' } }, 200],
      [{ method: 'GET', path: '/healthz' }, 200],
      [{ method: 'GET', path: '/readyz' }, 200],
      [{ method: 'GET', path: '/metrics' }, 200],
      [{ method: 'GET', path: '/' }, 200],
      [
        {
          method: 'POST',
          path: '/v1/jobs',
          headers: { 'content-type': 'application/json', 'idempotency-key': `control-${Date.now()}` },
          body: JSON.stringify({ text: BEES }),
        },
        202,
      ],
      [{ method: 'DELETE', path: `/v1/jobs/${cancellable}` }, 202],
    ];
    for (const [attempt, status] of controls) expect((await sendSound(attempt)).status, show(attempt)).toBe(status);

    const counts = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.record({ method: fc.constantFrom(...METHODS), path, headers, body: fc.option(body, { freq: 3 }) }).filter(fitsNode),
        async ({ method, path, headers, body }) => {
          const answer = await sendSound({ method, path, headers, ...(body === null || method === 'HEAD' ? {} : { body }) });
          counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
        },
      ),
      { numRuns: 300 },
    );
    // The run met both sides: requests served and requests refused.
    console.info(`[hostile-http] any method, path…: ${JSON.stringify(Object.fromEntries(counts))}`);
    for (const status of [200, 400, 404]) expect(counts.get(status) ?? 0, `answers ${status}`).toBeGreaterThan(0);
  });

  it('event cursors (Last-Event-ID and ?lastEventId) on live, finished and unknown jobs', async () => {
    const live = (await submit(api, BEES)).body.jobId as string;
    const ended = (await submit(api, BEES)).body.jobId as string;
    expect((await request(`${api}/v1/jobs/${ended}`, { method: 'DELETE' })).status).toBe(202);
    const lastOf = async (id: string): Promise<string> => (await request(`${api}/v1/jobs/${id}`)).body.lastEventId;
    const endedLast = await lastOf(ended);
    const [endedMs, endedSeq] = endedLast.split('-').map(BigInt) as [bigint, bigint];
    // Cursors around the finished job's last event too, where 200 turns 204.
    const near = fc
      .tuple(fc.bigInt({ min: -3n, max: 3n }), fc.bigInt({ min: -3n, max: 3n }))
      .filter(([dm, ds]) => endedMs + dm >= 0n && endedSeq + ds >= 0n)
      .map(([dm, ds]) => `${endedMs + dm}-${endedSeq + ds}`);
    const cursor = fc.oneof(near, cursorText, fc.constant(endedLast), fc.constantFrom('0-0', '0-1'));
    const jobs = { live, ended, unknown: 'AAAAAAAAAAAAAAAAAAAAAA', malformed: 'not-a-job' } as const;
    const validCursor = /^\d{1,15}-\d{1,15}$/;
    const seen = new Set<number>();
    const toPair = (c: string): [bigint, bigint] => c.split('-').map(BigInt) as [bigint, bigint];
    const atOrAfter = (a: [bigint, bigint], b: [bigint, bigint]): boolean => a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);

    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...(Object.keys(jobs) as (keyof typeof jobs)[])),
        fc.option(cursor.filter(headerSafe), { freq: 2 }),
        fc.array(cursor, { maxLength: 2 }),
        async (which, header, queryValues) => {
          const query =
            queryValues.length === 0
              ? ''
              : `?${new URLSearchParams(queryValues.map((v): [string, string] => ['lastEventId', v.toWellFormed()]))}`;
          const headers: Record<string, string> = header === null ? {} : { 'last-event-id': header };
          const attempt: Attempt = { method: 'GET', path: `/v1/jobs/${jobs[which]}/events${query}`, headers };
          fc.pre(fitsNode(attempt));
          const answer = await sendSound(attempt);
          // The oracle, straight from docs/api.md: the header wins, then the query.
          const raw = header?.trim() || queryValues[0]?.toWellFormed().trim();
          let expected: number;
          if (queryValues.length > 1 || (raw && !validCursor.test(raw))) expected = 400;
          else if (which === 'unknown' || which === 'malformed') expected = 404;
          else if (which === 'ended' && raw && atOrAfter(toPair(raw), toPair(endedLast))) expected = 204;
          else expected = 200;
          expect(answer.status, show(attempt)).toBe(expected);
          if (expected === 200) expect(answer.sse).toBe(true);
          seen.add(expected);
        },
      ),
      { numRuns: 250 },
    );
    expect([...seen].sort()).toEqual([200, 204, 400, 404]);
  });

  it('raw bytes: control characters in header values, garbage request lines', async () => {
    const invalidByte = fc.oneof(
      fc.integer({ min: 0x00, max: 0x08 }),
      fc.integer({ min: 0x0b, max: 0x0c }),
      fc.integer({ min: 0x0e, max: 0x1f }),
      fc.constant(0x7f),
    );
    const valueBytes = fc.array(fc.oneof(invalidByte, fc.integer({ min: 0x20, max: 0xff })), { minLength: 1, maxLength: 80 });
    const headerLine = fc
      .tuple(fc.constantFrom('Last-Event-ID', 'Idempotency-Key', 'Content-Type', 'Accept', 'X-Fuzz'), valueBytes)
      .map(([name, bytes]) => Buffer.concat([Buffer.from(`${name}: `), Buffer.from(bytes), Buffer.from('\r\n')]));
    const withBadHeaders = fc
      .tuple(
        fc.constantFrom(...METHODS),
        fc.constantFrom('/healthz', '/v1/jobs', '/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA', '/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA/events', '/'),
        fc.array(headerLine, { minLength: 1, maxLength: 3 }),
      )
      .map(([method, path, lines]) =>
        Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n`), ...lines, Buffer.from('\r\n')]),
      );
    const lineByte = fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x0a && b !== 0x0d);
    const garbageLine = fc
      .oneof(
        // Not empty: Node rightly skips empty lines before a request line, and waits for one.
        fc.array(lineByte, { minLength: 1, maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
        fc
          .tuple(
            // Not PRI: Node then waits for the rest of an HTTP/2 preface, as for any unfinished head.
            fc.constantFrom(...METHODS, 'BREW', 'CONNECT', 'get', ''),
            fc.string({ unit: char(fc.integer({ min: 0x21, max: 0xff })), maxLength: 40 }),
            fc.constantFrom(' HTTP/1.1', ' HTTP/1.0', ' HTTP/9.9', ' HTTP/1.1 x', '', ' http/1.1'),
          )
          .map(([m, p, v]) => Buffer.from(`${m} /${p}${v}`, 'latin1')),
      )
      .map((line) => Buffer.concat([line, Buffer.from('\r\n\r\n')]));

    await fc.assert(
      fc.asyncProperty(fc.oneof(withBadHeaders, garbageLine), async (bytes) => {
        const text = bytes.toString('latin1');
        const [method = '', path = ''] = text.split(' ');
        const { status, headers, body } = await sendRaw(bytes);
        const where = `${JSON.stringify(text.slice(0, 300))}\n→ ${status} ${JSON.stringify(headers)} ${body.slice(0, 200)}`;
        // CONNECT: with no 'connect' listener Node closes the socket without a word (promptly).
        if (method === 'CONNECT' && status === null) return;
        expect(status, `no status line before the server closed: ${where}`).not.toBeNull();
        expectSound({ method, path, body: text }, { status: status!, headers, body, sse: false });
      }),
      { numRuns: 200 },
    );
  });

  it('left no watcher behind: every aborted stream was freed', async () => {
    await expect.poll(async () => (await request(`${api}/metrics`)).body, { timeout: 3000 }).toMatch(/^herald_sse_watchers 0$/m);
  });
});

/** Writes raw bytes, reads until the server closes (every request here ends with one). */
function sendRaw(bytes: Buffer): Promise<{ status: number | null; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `the server neither answered nor closed within ${ANSWER_MS} ms: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`,
        ),
      );
    }, ANSWER_MS);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {}); // a reset after the answer is fine; 'close' follows
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const head = end === -1 ? text : text.slice(0, end);
      const headers: IncomingHttpHeaders = {};
      for (const line of head.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let rawBody: Buffer = end === -1 ? Buffer.alloc(0) : Buffer.concat(chunks).subarray(Buffer.byteLength(head, 'latin1') + 4);
      if (headers['transfer-encoding'] === 'chunked') rawBody = dechunk(rawBody);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      resolve({ status: status === undefined ? null : Number(status), headers, body: rawBody.toString('utf8') });
    });
  });
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Slow-loris

interface SlowSocket {
  readonly openedAt: number;
  /** When the server closed it (ms after openedAt), or null while open. */
  closedAfter: number | null;
  received: string;
  destroy(): void;
}

/** Sends `head`, then `drip` every `everyMs`, never finishing the request. */
function slowSocket(head: string, drip: string, everyMs: number): Promise<SlowSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    const slow: SlowSocket = {
      openedAt: 0,
      closedAfter: null,
      received: '',
      destroy: () => {
        clearInterval(timer);
        socket.destroy();
      },
    };
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      slow.received += chunk.toString('latin1');
    });
    socket.on('close', () => {
      clearInterval(timer);
      slow.closedAfter ??= performance.now() - slow.openedAt;
    });
    socket.once('connect', () => {
      (slow as { openedAt: number }).openedAt = performance.now();
      if (head) socket.write(head);
      if (drip) timer = setInterval(() => socket.writable && socket.write(drip), everyMs);
      resolve(slow);
    });
    socket.once('error', reject);
  });
}

const HEADER_TRICKLE = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ';
const BODY_TRICKLE = 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"text":"';

async function openAttack(
  everyMs: number,
): Promise<{ headers: SlowSocket[]; bodies: SlowSocket[]; idle: SlowSocket[]; all: SlowSocket[] }> {
  const headers = await Promise.all(Array.from({ length: 100 }, () => slowSocket(HEADER_TRICKLE, 'a', everyMs)));
  const bodies = await Promise.all(Array.from({ length: 20 }, () => slowSocket(BODY_TRICKLE, 'a', everyMs)));
  const idle = await Promise.all(Array.from({ length: 10 }, () => slowSocket('', '', 0)));
  return { headers, bodies, idle, all: [...headers, ...bodies, ...idle] };
}

/** /healthz, timed, every ~100 ms for `forMs`; returns every latency. */
async function probeHealth(forMs: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + forMs;
  while (performance.now() < until) {
    const started = performance.now();
    const response = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(2000) });
    await response.text();
    latencies.push(performance.now() - started);
    expect(response.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return latencies;
}

type TunableServer = Server & { connectionsCheckingInterval: number };

/**
 * Lowers the live server's timeouts so the test sees them fire: headersTimeout/requestTimeout
 * are read at each check, and Node restarts its checking timer (at connectionsCheckingInterval)
 * on 'listening' — the only way to change it on a server that is already listening.
 */
function setTimeouts(target: Server, timeouts: { headers: number; request: number; checkEvery: number }): void {
  const tunable = target as TunableServer;
  tunable.headersTimeout = timeouts.headers;
  tunable.requestTimeout = timeouts.request;
  tunable.connectionsCheckingInterval = timeouts.checkEvery;
  tunable.emit('listening');
}

/** A request that took too long to arrive: `408 request_timeout` (docs/api.md), a JSON error, then the close. */
function expectTimedOut(received: string): void {
  expect(received).toMatch(/^HTTP\/1\.1 408 /);
  const end = received.indexOf('\r\n\r\n');
  expect(received.slice(0, end)).toMatch(/\r\ncontent-type: application\/json/i);
  expect(JSON.parse(received.slice(end + 4)).error).toEqual({ code: 'request_timeout', message: expect.any(String) });
}

describe('slow-loris', () => {
  it('100 trickling request heads, 20 trickling bodies and 10 silent sockets do not slow anyone else down', async () => {
    const attack = await openAttack(1000); // one byte a second, the server's own timeouts
    try {
      const [latencies, submitted] = await Promise.all([
        probeHealth(3000),
        (async () => {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          const started = performance.now();
          const created = await submit(api, BEES);
          const snapshot = await request(`${api}/v1/jobs/${created.body.jobId}`);
          return { created, snapshot, ms: performance.now() - started };
        })(),
      ]);
      expect(latencies.length).toBeGreaterThan(10);
      expect(Math.max(...latencies)).toBeLessThan(500);
      expect(submitted.created.status).toBe(202);
      expect(submitted.snapshot.status).toBe(200);
      expect(submitted.ms).toBeLessThan(1000);
      // The attack was real: every socket was still held open, and none was answered.
      expect(attack.all.filter((s) => s.closedAfter !== null)).toHaveLength(0);
      expect(attack.all.filter((s) => s.received !== '')).toHaveLength(0);
    } finally {
      for (const socket of attack.all) socket.destroy();
    }
  });

  it('a trickling head is cut off at headersTimeout, a trickling body at requestTimeout; streams are not', async () => {
    const original = {
      headers: server.headersTimeout,
      request: server.requestTimeout,
      checkEvery: (server as TunableServer).connectionsCheckingInterval,
    };
    const live = (await submit(api, BEES)).body.jobId as string;
    setTimeouts(server, { headers: 1000, request: 2500, checkEvery: 100 });
    const stream = await slowSocket(`GET /v1/jobs/${live}/events HTTP/1.1\r\nHost: x\r\n\r\n`, '', 0);
    const attack = await openAttack(200); // a byte every 200 ms: never idle, never done
    try {
      const latencies = await probeHealth(3500);
      expect(Math.max(...latencies)).toBeLessThan(500);
      for (const socket of [...attack.headers, ...attack.idle]) {
        expect(socket.closedAfter).not.toBeNull();
        expect(socket.closedAfter!).toBeGreaterThan(900);
        expect(socket.closedAfter!).toBeLessThan(2000);
        expectTimedOut(socket.received);
      }
      for (const socket of attack.bodies) {
        expect(socket.closedAfter).not.toBeNull();
        expect(socket.closedAfter!).toBeGreaterThan(2400);
        expect(socket.closedAfter!).toBeLessThan(3500);
        // docs/api.md: 408 request_timeout, as JSON, like every error.
        expectTimedOut(socket.received);
      }
      // An event stream's request was complete at once: it outlives both timeouts.
      expect(stream.closedAfter).toBeNull();
      expect(stream.received).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      setTimeouts(server, original);
      stream.destroy();
      for (const socket of attack.all) socket.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('after all that', () => {
  it('the process is alive, ready, and takes jobs', async () => {
    expect(await request(`${api}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await request(`${api}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready' } });
    const created = await submit(api, BEES, { maxSentences: 2 });
    expect(created.status).toBe(202);
    expect((await request(`${api}/v1/jobs/${created.body.jobId}`)).body).toMatchObject({ status: 'queued' });
  });
});

describe('regressions: the bugs this file found', () => {
  it('a malformed %-escape in a job id is a 4xx, not a 500', async () => {
    for (const [method, path] of [
      ['GET', '/v1/jobs/%E0'],
      ['DELETE', '/v1/jobs/%zz'],
      ['GET', '/jobs/%E0%A4'],
    ] as const) {
      const answer = await send({ method, path });
      expectSound({ method, path }, answer);
      // docs/api.md: a malformed parameter is a 400 invalid_request.
      expect({ status: answer.status, code: JSON.parse(answer.body).error?.code }, `${method} ${path}`).toEqual({
        status: 400,
        code: 'invalid_request',
      });
    }
  });

  it('a URL without a pathname Express can read still gets the JSON 404', async () => {
    const answer = await send({ method: 'GET', path: '//#@!' });
    expect(answer.status).toBe(404);
    expect(String(answer.headers['content-type'])).toMatch(/^application\/json/);
  });

  it('a compressed body, even one that does not decompress, is a 415, not a 500', async () => {
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const answer = await send({
        method: 'POST',
        path: '/v1/jobs',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        body: '{"text":"hi."}',
      });
      expect(answer.status, encoding).toBe(415);
    }
  });

  it('requests Node refuses before the app (431, bad header bytes) still get the JSON error body', async () => {
    const tooLarge = await send({
      method: 'POST',
      path: '/v1/jobs',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k'.repeat(20_000) },
      body: '{"text":"hi."}',
    });
    expect(tooLarge.status).toBe(431);
    expect(tooLarge.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(tooLarge.body).error.code).toBe('invalid_request'); // docs/api.md: 431 invalid_request
    const badByte = await sendRaw(Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\x01-0\r\n\r\n', 'latin1'));
    expect(badByte.status).toBe(400);
    expect(badByte.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(badByte.body).error.code).toBe('invalid_request'); // docs/api.md: a request Node's parser refuses
  });

  it('the server checks its header/request timeouts at least every second', () => {
    // Node enforces headersTimeout/requestTimeout only when its connection check runs, every
    // connectionsCheckingInterval (30 s by default): a slow-loris head then lives 30–40 s, not 10.
    expect((server as TunableServer).connectionsCheckingInterval).toBeLessThanOrEqual(1000);
  });
});

describe('a head built to make a pattern backtrack (security review C1)', () => {
  it('/healthz answers within 500 ms while a 16 KB head of blanks before a control byte is read', async () => {
    // Before the fix the stream route's head reader backtracked in cubic time on it: 3.2 KB froze
    // the replica for 7 s, 16 KB for longer than anyone waited.
    const prefix = 'GET /v1/jobs/j_hostile/events HTTP/1.1\r\nHost: x\r\nX: ';
    const bytes = Buffer.from(`${prefix}${' '.repeat(16 * 1024 - prefix.length - 5)}\x01\r\n\r\n`, 'latin1');
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      answer += chunk;
    });
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await new Promise<void>((resolve) => socket.write(bytes, () => resolve()));
    const started = performance.now();
    const health = await fetch(`${api}/healthz`);
    const took = performance.now() - started;
    expect(health.status).toBe(200);
    expect(took).toBeLessThan(500);
    // The head itself is node:http's to refuse (a control byte in a value).
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe('a stream connection serves that one request (review L4)', () => {
  const streamHead = (jobId: string, more = ''): string =>
    `GET /v1/jobs/${jobId}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n${more}\r\n`;
  /** Everything the server sends on one connection, written in `parts` 100 ms apart, until it has been quiet a while. */
  async function wire(parts: readonly string[]): Promise<{ text: string; closed: boolean }> {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      text += chunk;
    });
    socket
      .on('error', () => {})
      .on('close', () => {
        closed = true;
      });
    for (const part of parts) {
      socket.write(part);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.destroy();
    return { text, closed };
  }
  const statusOf = async (jobId: string): Promise<string> => (await request(`${api}/v1/jobs/${jobId}`)).body.status;

  // A repeated header: only node:http reads such a head (http/bare/simple-head.ts).
  const NODE_READS = 'Accept: */*\r\n';
  type Parts = (head: string, cancel: string) => string[];
  const sameChunk: Parts = (head, cancel) => [head + cancel];
  const laterChunk: Parts = (head, cancel) => [head, cancel];
  const splitHead: Parts = (head, cancel) => [head.slice(0, 20), head.slice(20) + cancel];
  it.each([
    ['read plainly, a DELETE in the same chunk', '', sameChunk],
    ['read plainly, a DELETE in a later chunk', '', laterChunk],
    ['read plainly from two chunks, a DELETE in the second', '', splitHead],
    ['read by node:http, a DELETE in the same chunk', NODE_READS, sameChunk],
    ['read by node:http, a DELETE in a later chunk', NODE_READS, laterChunk],
  ])('%s: the DELETE never runs, and the stream is the only answer', async (_what, more, parts) => {
    const watched = (await submit(api, BEES)).body.jobId as string;
    const other = (await submit(api, BEES)).body.jobId as string;
    const cancel = `DELETE /v1/jobs/${other} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const { text } = await wire(parts(streamHead(watched, more), cancel));
    expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
    expect(text).toContain('\r\nContent-Type: text/event-stream');
    expect(text).toContain(`"jobId":"${watched}"`);
    expect(await statusOf(other)).toBe('queued');
  });

  it('a DELETE behind a stream that is itself behind a keep-alive request never runs either', async () => {
    const watched = (await submit(api, BEES)).body.jobId as string;
    const other = (await submit(api, BEES)).body.jobId as string;
    const health = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const { text } = await wire([health + streamHead(watched) + `DELETE /v1/jobs/${other} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(text).toContain(`"jobId":"${watched}"`);
    expect(await statusOf(other)).toBe('queued');
  });

  it('a bad request behind a stream that node:http reads closes the connection; no error lands in the stream', async () => {
    const watched = (await submit(api, BEES)).body.jobId as string;
    const { text, closed } = await wire([streamHead(watched, NODE_READS), 'NOT HTTP\r\n\r\n']);
    expect(closed).toBe(true);
    expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
    expect(text).not.toContain('"error"');
  });
});

describe('compressed and deeply nested bodies (issue 24)', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const encoders = { gzip: gzipSync, 'x-gzip': gzipSync, deflate: deflateSync, br: brotliCompressSync };
  /** An external job, its publish token from the 202 (auth is off here). */
  const externalJob = async (): Promise<{ jobId: string; publishToken: string }> =>
    (await request(`${api}/v1/jobs`, { json: { kind: 'external' } })).body;

  it('refuses a compressed body with 415 on every route that reads one, before inflating it, creating nothing', async () => {
    const job = await externalJob();
    const targets: { path: string; body: Buffer; headers: Record<string, string> }[] = [
      { path: '/v1/jobs', body: json({ text: BEES }), headers: {} },
      { path: '/v1/batches', body: json({ items: [{ text: BEES }] }), headers: {} },
      {
        path: `/v1/jobs/${job.jobId}/events`,
        body: json({ status: 'processing', progress: 10 }),
        headers: { authorization: `Bearer ${job.publishToken}` },
      },
    ];
    const before = (await keysMatching(system.redis, 'herald:*')).sort();
    for (const target of targets) {
      for (const [encoding, encode] of [
        ...Object.entries(encoders),
        ['zstd', (b: Buffer) => b] as const,
        ['gzip, identity', gzipSync] as const,
      ]) {
        const attempt = {
          method: 'POST',
          path: target.path,
          headers: { 'content-type': 'application/json', 'content-encoding': encoding, ...target.headers },
          body: encode(target.body),
        };
        const answer = await sendSound(attempt);
        expect(answer.status, show(attempt)).toBe(415);
        expect(JSON.parse(answer.body).error).toEqual({ code: 'unsupported_media_type', message: expect.stringMatching(/uncompressed/) });
      }
    }
    expect((await keysMatching(system.redis, 'herald:*')).sort()).toEqual(before);
    expect((await request(`${api}/v1/jobs/${job.jobId}`)).body).toMatchObject({ status: 'queued', progress: 0 });
    // identity, in any case, and an empty header are no encoding at all.
    for (const encoding of ['identity', 'IDENTITY', '']) {
      const answer = await sendSound({
        method: 'POST',
        path: '/v1/jobs',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        body: json({ text: BEES }),
      });
      expect(answer.status, encoding).toBe(202);
    }
  });

  it('answers a compressed body 415 before reading it: a 64 MB gzip upload is refused after its first bytes', async () => {
    // Only the head and 1 KB of a body said to be 64 MB are sent: the answer comes without the
    // rest (a parser that inflated would wait for it, and the request would time out).
    const start = gzipSync(Buffer.from(`{"items":[${'{"text":"Bees make honey."},'.repeat(2000)}`)).subarray(0, 1024);
    const head =
      'POST /v1/batches HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n' +
      `Content-Encoding: gzip\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`;
    const answer = await sendRaw(Buffer.concat([Buffer.from(head, 'latin1'), start]));
    expect(answer.status).toBe(415);
    expect(JSON.parse(answer.body).error.code).toBe('unsupported_media_type');
  });

  it.each([1_000, 5_000, 30_000])('refuses metadata nested %i levels deep with 400 naming the field and the bound', async (depth) => {
    const body = `{"kind":"external","metadata":{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}}`;
    expect(body.length).toBeLessThan(BODY_LIMIT_BYTES);
    const answer = await sendSound({ method: 'POST', path: '/v1/jobs', headers: { 'content-type': 'application/json' }, body });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error).toEqual({
      code: 'invalid_request',
      message: 'The request body is invalid',
      details: [{ path: 'metadata', message: 'metadata must nest at most 32 levels deep' }],
    });
  });

  it('takes metadata exactly 32 levels deep (the metadata object being the first), and not 33', async () => {
    const nested = (levels: number) => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
    const post = (levels: number) =>
      sendSound({
        method: 'POST',
        path: '/v1/jobs',
        headers: { 'content-type': 'application/json' },
        body: `{"kind":"external","metadata":${nested(levels)}}`,
      });
    expect((await post(32)).status).toBe(202);
    expect((await post(33)).status).toBe(400);
  });
});

describe('a producer that writes too much, or too fast (issue 24: a producer’s writes are bounded)', () => {
  interface Producer {
    readonly jobId: string;
    publish(event: unknown, headers?: Record<string, string>): ReturnType<typeof request>;
  }
  async function external(): Promise<Producer> {
    const created = await request(`${api}/v1/jobs`, { json: { kind: 'external' } });
    expect(created.status).toBe(202);
    const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };
    return {
      jobId,
      publish: (event, headers = {}) =>
        request(`${api}/v1/jobs/${jobId}/events`, { json: event, headers: { Authorization: `Bearer ${publishToken}`, ...headers } }),
    };
  }
  /** As many publishes as `count`, all at once (the default PUBLISH_RATE_PER_JOB, 50 a second, is this file's). */
  const burst = (producer: Producer, count: number) =>
    Promise.all(Array.from({ length: count }, (_, i) => producer.publish({ status: 'processing', message: `event ${i}` })));

  it('the review’s 6,000,000-unit producer: past MAX_TEXT_CHARS every delta is 413, and the job keeps its text and ends', async () => {
    const producer = await external();
    const delta = '\u0001'.repeat(MAX_TEXT_CHARS);
    const statuses: number[] = [];
    for (let i = 0; i < 60; i += 1)
      statuses.push((await producer.publish({ status: 'processing', delta, offset: i * delta.length })).status);
    expect(statuses).toEqual([201, ...Array(59).fill(413)]);
    const snapshot = await request(`${api}/v1/jobs/${producer.jobId}`);
    expect(snapshot.body.partial).toBe(delta);
    expect((await producer.publish({ status: 'done', result: 'ok' })).status).toBe(201);
  });

  it('a fast producer gets 429 rate_limited with Retry-After; a replay is not charged, Herald’s own events are not limited', async () => {
    const [fast, cancelled] = [await external(), await external()];
    const first = await fast.publish({ status: 'processing', progress: 1 }, { 'Idempotency-Key': 'first' });
    expect(first.status).toBe(201);
    const started = Date.now();
    const [answers, others] = await Promise.all([burst(fast, 100), burst(cancelled, 100)]);
    const elapsed = Date.now() - started;
    for (const answer of [...answers, ...others]) expect([201, 429]).toContain(answer.status);
    // A bucket of 50 (one spent above), refilled at 50 a second while the burst lasted.
    const created = answers.filter((answer) => answer.status === 201).length;
    expect(created).toBeGreaterThanOrEqual(49);
    expect(created).toBeLessThanOrEqual(49 + Math.ceil((elapsed / 1000) * 50) + 1);
    const refused = answers.find((answer) => answer.status === 429)!;
    expectRateLimited(refused);
    // A replay of a publish that happened costs nothing, even with the bucket empty.
    const replay = await fast.publish({ status: 'processing', progress: 1 }, { 'Idempotency-Key': 'first' });
    expect(replay).toMatchObject({ status: 200, body: { eventId: first.body.eventId } });
    // Herald's own events (a cancel) pass however fast the producer went.
    const deleted = await request(`${api}/v1/jobs/${cancelled.jobId}`, { method: 'DELETE' });
    expect(deleted).toMatchObject({ status: 202, body: { status: 'cancelled' } });
    // After Retry-After, the producer publishes again.
    await new Promise((resolve) => setTimeout(resolve, Number(refused.headers.get('retry-after')) * 1000));
    expect((await fast.publish({ status: 'done', result: 'ok' })).status).toBe(201);
  });

  it('a rewind deep into the text costs a publish per 256 units Redis walks to it: none can walk a long text at the whole rate', async () => {
    const producer = await external();
    expect((await producer.publish({ status: 'processing', delta: 'a'.repeat(500), offset: 0 })).status).toBe(201);
    expect((await producer.publish({ status: 'processing', delta: 'b'.repeat(500), offset: 500 })).status).toBe(201);
    const started = Date.now();
    const rewinds = await Promise.all(
      Array.from({ length: 40 }, () => producer.publish({ status: 'processing', delta: 'c', offset: 999 })),
    );
    const elapsed = Date.now() - started;
    for (const answer of rewinds) expect([201, 429]).toContain(answer.status);
    // 48 of the burst of 50 are left, earned back at 50 a second; a rewind to 999 costs 1 + 3 (999 / 256).
    const passed = rewinds.filter((answer) => answer.status === 201).length;
    expect(passed).toBeGreaterThanOrEqual(12);
    expect(passed).toBeLessThanOrEqual(Math.floor((48 + (elapsed / 1000) * 50) / 4) + 1);
    expectRateLimited(rewinds.find((answer) => answer.status === 429)!);
    expect((await request(`${api}/v1/jobs/${producer.jobId}`)).body.partial).toBe(`${'a'.repeat(500)}${'b'.repeat(499)}c`);
  });

  function expectRateLimited(answer: Awaited<ReturnType<typeof request>>): void {
    expect(answer.status).toBe(429);
    expect(answer.body.error).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('PUBLISH_RATE_PER_JOB') });
    // Whole seconds, rounded up (docs/api.md): a publish (even a deep rewind's few) is earned back
    // within a second at 50 a second.
    expect(answer.headers.get('retry-after')).toBe('1');
  }
});

// ---------------------------------------------------------------------------------------------
// Slow readers of long histories (issue 24, "reads are bounded")

describe('readers that stop reading a long history', () => {
  const DEADLINE_MS = 2000;
  let paged: TestSystem;
  let url: string;
  let jobIds: string[];

  beforeAll(async () => {
    // A system of its own: short deadline and heartbeat, small pages (the file's system keeps the defaults).
    paged = await startSystem({
      replicas: 1,
      workers: 0,
      env: { HISTORY_PAGE_EVENTS: '8', SSE_WRITE_DEADLINE_MS: String(DEADLINE_MS), HEARTBEAT_MS: '100', SUBMIT_RATE_PER_IP: '0' },
    });
    url = paged.apis[0]!.url;
    // Two jobs of ~5 MB each, in events of ~60 KB, published as Herald's workers publish them.
    const publisher = new EventPublisher(paged.redis, { ttlSeconds: 600, streamMaxLen: 100_000 });
    jobIds = [(await submit(url, BEES)).body.jobId, (await submit(url, BEES)).body.jobId];
    for (const jobId of jobIds) {
      for (let i = 0; i < 80; i += 1) {
        await publisher.publish(jobId, { status: 'processing', progress: i, message: `${i} ${'h'.repeat(60_000)}` });
      }
    }
  }, 60_000);
  afterAll(() => paged.close());

  it('ten stalled readers (single and multi-job streams) hold a bounded backlog each, are cut off at the deadline, and slow no one', async () => {
    const served = new Map<number, net.Socket>();
    const onConnection = (socket: net.Socket): void => {
      served.set(socket.remotePort!, socket);
    };
    paged.apis[0]!.server.on('connection', onConnection);
    const before = await commandCalls(paged.redis, 'xrange');
    const paths = Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0 ? `/v1/jobs/${jobIds[0]}/events` : `/v1/events?jobs=${jobIds[0]},${jobIds[1]}`,
    );
    const readers = await Promise.all(paths.map((path) => stalledReader(url, path)));
    paged.apis[0]!.server.off('connection', onConnection);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // What the replica holds for each stalled reader: its socket's own queue stays near one write,
    // whatever the history's length (the rest waits in Redis, read a page at a time).
    for (const reader of readers) {
      const socket = served.get(reader.port)!;
      expect(socket.writableLength).toBeLessThanOrEqual(256 * 1024);
    }
    // The replica answers others meanwhile.
    const asked = performance.now();
    expect((await request(`${url}/healthz`)).status).toBe(200);
    expect(performance.now() - asked).toBeLessThan(500);
    // Pages are read as the readers read: the histories (11 pages a job) are far from all read.
    const pagesPerJob = Math.ceil(81 / 8);
    const read = (await commandCalls(paged.redis, 'xrange')) - before;
    console.info(`[hostile-http] 10 stalled readers had ${read} pages of ${15 * pagesPerJob} read`);
    expect(read).toBeLessThan(15 * pagesPerJob);

    // Cut off after SSE_WRITE_DEADLINE_MS (plus at most a heartbeat): the replica lets go of every socket.
    const cutAt = Date.now();
    for (const reader of readers) {
      const socket = served.get(reader.port)!;
      while (!socket.destroyed && Date.now() - cutAt < 3 * DEADLINE_MS) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(socket.destroyed).toBe(true);
    }
    expect(Date.now() - cutAt).toBeGreaterThan(DEADLINE_MS / 2);
    const metrics = (await request(`${url}/metrics`)).body as string;
    expect(Number(/herald_sse_streams_ended_total\{how="cut-off"\} (\d+)/.exec(metrics)?.[1])).toBe(readers.length);
    for (const reader of readers) reader.socket.destroy();
  }, 60_000);
});

describe('a tag’s feed, filled far past its bound, and the cursors of its stream (issue 28)', () => {
  const FEED_MAXLEN = 100;
  const FEED_MAX_BYTES = 65_536;
  let tagged: TestSystem;
  let url: string;
  const tag = 'flood:1';

  beforeAll(async () => {
    tagged = await startSystem({
      replicas: 1,
      workers: 0,
      env: {
        TAG_FEED_MAXLEN: String(FEED_MAXLEN),
        TAG_FEED_MAX_BYTES: String(FEED_MAX_BYTES),
        SUBMIT_RATE_PER_IP: '0',
      },
    });
    url = tagged.apis[0]!.url;
  });
  afterAll(() => tagged.close());

  it('a producer’s 1,000 events leave at most a few hundred entries in the feed, and a stream that needs what went begins with a resync notice', async () => {
    const created = await request(`${url}/v1/jobs`, { json: { kind: 'external', tags: [tag] } });
    expect(created.status).toBe(202);
    const { jobId } = created.body as { jobId: string };
    const first = SseClient.open(`${url}/v1/events?tag=${tag}`);
    await first.waitFor((client) => client.events.length === 1);
    first.close();
    const cursor = first.lastEventId!;
    // As Herald's worker publishes: the same relay, bounded by the same setting.
    const publisher = new EventPublisher(tagged.redis, { ttlSeconds: 600, streamMaxLen: 10_000, tagFeedMaxLen: FEED_MAXLEN });
    for (let i = 1; i <= 1000; i += 1)
      await publisher.publish(jobId, { status: 'processing', progress: Math.floor(i / 10), message: `${i}` });
    // MAXLEN ~ trims whole nodes of the Stream (100 entries each by default): a few hundred at most, never the thousand.
    const held = await tagged.redis.xlen(keys.tagFeed(tag));
    expect(held).toBeLessThanOrEqual(3 * FEED_MAXLEN);

    for (const headers of [{ 'Last-Event-ID': cursor }, {}] as Record<string, string>[]) {
      const stream = SseClient.open(`${url}/v1/events?tag=${tag}&typed=1`, headers);
      await stream.waitFor((client) => client.events.at(-1)?.json.message === '1000');
      stream.close();
      const [notice, ...rest] = stream.events;
      expect(notice!.name).toBe('resync');
      expect(JSON.parse(notice!.data)).toMatchObject({ tag, resync: true });
      // Then what the feed still holds, in order, ending with the last event.
      expect(rest.length).toBeLessThanOrEqual(held);
      const numbers = rest.map((event) => Number(event.json.message));
      expect(numbers).toEqual(numbers.map((_, i) => 1001 - numbers.length + i));
    }
  });

  it('large events leave the feed holding under about twice TAG_FEED_MAX_BYTES, and a stream that needs what went begins with a resync notice', async () => {
    const bigTag = 'flood:bytes';
    const created = await request(`${url}/v1/jobs`, { json: { kind: 'external', tags: [bigTag] } });
    expect(created.status).toBe(202);
    const { jobId } = created.body as { jobId: string };
    const first = SseClient.open(`${url}/v1/events?tag=${bigTag}`);
    await first.waitFor((client) => client.events.length === 1);
    first.close();
    const cursor = first.lastEventId!;
    // Far under TAG_FEED_MAXLEN in entries (60 of 100 kept), far over the bytes: 60 × 8 KiB ≈ 480 KiB.
    const publisher = new EventPublisher(tagged.redis, {
      ttlSeconds: 600,
      streamMaxLen: 10_000,
      tagFeedMaxLen: 100_000,
      tagFeedMaxBytes: FEED_MAX_BYTES,
    });
    const filler = 'x'.repeat(8 * 1024);
    let mostHeld = 0;
    const heldBytes = async (): Promise<number> => {
      const entries = (await tagged.redis.xrange(keys.tagFeed(bigTag), '-', '+')) as [string, string[]][];
      return entries.reduce((sum, [, fields]) => sum + fields.reduce((bytes, field) => bytes + Buffer.byteLength(field), 0), 0);
    };
    for (let i = 1; i <= 60; i += 1) {
      await publisher.publish(jobId, { status: 'processing', progress: i, message: `${i} ${filler}` });
      mostHeld = Math.max(mostHeld, await heldBytes());
    }
    expect(mostHeld).toBeLessThan(2 * FEED_MAX_BYTES);
    expect(await tagged.redis.xlen(keys.tagFeed(bigTag))).toBeLessThan(30);

    const stream = SseClient.open(`${url}/v1/events?tag=${bigTag}&typed=1`, { 'Last-Event-ID': cursor });
    await stream.waitFor((client) => client.events.at(-1)?.json.message?.startsWith('60 ') === true);
    stream.close();
    const [notice, ...rest] = stream.events;
    expect(notice!.name).toBe('resync');
    expect(JSON.parse(notice!.data)).toMatchObject({ tag: bigTag, resync: true });
    const numbers = rest.map((event) => Number.parseInt(event.json.message!, 10));
    expect(numbers).toEqual(numbers.map((_, i) => 61 - numbers.length + i));
  });

  it('long and malformed cursors and tags are refused with 400 in linear time', async () => {
    const cursors = ['1-1,'.repeat(2_000), '9'.repeat(8_000), `${'1-'.repeat(3_000)}x`, `1-1,${'1'.repeat(7_000)}-`];
    for (const cursor of cursors) {
      const asked = performance.now();
      const answer = await request(`${url}/v1/events?tag=${tag}`, { headers: { 'Last-Event-ID': cursor } });
      expect(answer.status).toBe(400);
      expect(performance.now() - asked).toBeLessThan(500);
    }
    for (const bad of ['a'.repeat(8_000), `${'a:'.repeat(3_000)}{`, '%00']) {
      expect((await request(`${url}/v1/events?tag=${bad}`)).status).toBe(400);
    }
  });
});
