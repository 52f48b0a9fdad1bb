import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// What every answer looks like, as docs/api.md promises it: an event-stream request's connection
// serves that one request and closes after any answer, a refusal included, however the request
// was read; every answer carries X-Request-Id; CORS exposes what it says; and a stream request
// that fails several checks gets the first one's answer (typed and cursor, draining, credential,
// capacity).

const KEY = 'key-alpha-0123456789';
const SECRET = 'a-watch-token-secret-of-forty-characters!';
const AUTH_ON = { API_KEYS: KEY, WATCH_TOKEN_SECRET: SECRET };
const ORIGIN = 'https://app.example.com';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** An id no job has, shaped as one (22 characters of base64url). */
const UNKNOWN_JOB = 'AAAAAAAAAAAAAAAAAAAAAA';

interface WireAnswer {
  readonly status: number;
  /** Lower-cased names; a repeated header's values joined with ", ". */
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The server ended the connection (we never do before it, or before the deadline). */
  readonly closedByServer: boolean;
}

/**
 * Writes `parts` on a fresh connection, 40 ms apart, then reads until the server ends the
 * connection (or `waitMs` passes: then `closedByServer` is false). With `hold`, every part but
 * the last is written and `ready` called, and the last waits for `hold`: a test acts between them
 * (a drain).
 */
async function wire(
  port: number,
  parts: readonly string[],
  options: { waitMs?: number; hold?: Promise<unknown>; ready?: () => void } = {},
): Promise<WireAnswer> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let closedByServer = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk)).on('error', () => {});
  const ended = new Promise<void>((resolve) => {
    socket.once('end', () => {
      closedByServer = true;
      resolve();
    });
    socket.once('close', () => resolve());
  });
  for (const [i, part] of parts.entries()) {
    if (i === parts.length - 1 && options.hold) {
      options.ready?.();
      await options.hold;
    }
    await new Promise((resolve) => socket.write(part, resolve));
    if (i < parts.length - 1) await new Promise((resolve) => setTimeout(resolve, 40));
  }
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, options.waitMs ?? 3000).unref());
  await Promise.race([ended, deadline]);
  socket.destroy();
  const text = Buffer.concat(chunks).toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, split < 0 ? text.length : split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: split < 0 ? '' : text.slice(split + 4), closedByServer };
}

/** The three ways a stream's request head is read: whole in one write and in pieces (both read bare), and by node:http (a repeated header). */
const WAYS = {
  'bare, head in one write': (head: string) => [`${head}\r\n`],
  'bare, head split in two writes': (head: string) => [head.slice(0, 20), `${head.slice(20)}\r\n`],
  'node:http, head split': (head: string) => [head.slice(0, 20), `${head.slice(20)}Accept: */*\r\n\r\n`],
} as const;
type Way = keyof typeof WAYS;

const streamHead = (path: string, requestId: string, more: Record<string, string> = {}): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nX-Request-Id: ${requestId}\r\n` +
  Object.entries(more)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');

const auth = { Authorization: `Bearer ${KEY}` };

/** An external job created with the key, ended `done`: its last event id and a fresh watch token. */
async function finishedJob(url: string): Promise<{ jobId: string; lastEventId: string }> {
  const created = await request(`${url}/v1/jobs`, { json: { kind: 'external' }, headers: auth });
  expect(created.status).toBe(202);
  const done = await request(`${url}/v1/jobs/${created.body.jobId}/events`, {
    json: { status: 'done', result: 'ok' },
    headers: { Authorization: `Bearer ${created.body.publishToken}` },
  });
  expect(done.status).toBe(201);
  return { jobId: created.body.jobId, lastEventId: done.body.eventId };
}

/**
 * Sends each of `requests` (its parts) but its last bytes, with a request in flight (a body that
 * never finishes arriving: it keeps the drain waiting SHUTDOWN_GRACE_MS, as in drain.test.ts;
 * with none in flight a drain closes half-sent heads unanswered), then starts the drain, then
 * sends the rest. Resolves with the answers and the drain's end.
 */
async function duringDrain(
  system: TestSystem,
  port: number,
  requests: readonly (readonly string[])[],
): Promise<{ answers: WireAnswer[]; closed: Promise<void> }> {
  const stuck = connect(port, '127.0.0.1');
  stuck.on('error', () => {});
  await new Promise((resolve) =>
    stuck.write(
      `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"te`,
      resolve,
    ),
  );
  let release!: () => void;
  const hold = new Promise<void>((resolve) => {
    release = resolve;
  });
  const ready: Promise<void>[] = [];
  const answers = requests.map((parts) => {
    const { promise, resolve } = Promise.withResolvers<void>();
    ready.push(promise);
    // The head's last two bytes (its blank line's) go after the drain began.
    const last = parts.at(-1)!;
    return wire(port, [...parts.slice(0, -1), last.slice(0, -2), last.slice(-2)], { hold, ready: resolve });
  });
  await Promise.all(ready);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const closing = system.apis[0]!.close();
  system.apis.length = 0; // closed here, not again in afterAll
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  const got = await Promise.all(answers);
  return { answers: got, closed: closing.finally(() => stuck.destroy()) };
}

describe('every answer to a stream request closes its connection, and every answer carries X-Request-Id', () => {
  let system: TestSystem;
  let url: string;
  let port: number;
  beforeAll(async () => {
    system = await startSystem({
      replicas: 1,
      workers: 0,
      env: { ...AUTH_ON, CORS_ORIGINS: ORIGIN, MAX_SSE_CLIENTS_PER_IP: '1', SHUTDOWN_GRACE_MS: '500' },
    });
    url = system.apis[0]!.url;
    port = Number(new URL(url).port);
  });
  afterAll(() => system.close());

  /** Checks an answer read off the wire: this status (and code), Connection: close, the connection ended, our X-Request-Id. */
  const expectClosingAnswer = (answer: WireAnswer, status: number, code: string | null, requestId: string): void => {
    expect({ status: answer.status, code: code === null ? null : JSON.parse(answer.body).error.code }).toEqual({ status, code });
    expect(answer.headers.connection).toBe('close');
    expect(answer.closedByServer).toBe(true);
    expect(answer.headers['x-request-id']).toBe(requestId);
  };

  it('every answer carries X-Request-Id (the caller’s when sane, else a new UUID), and CORS exposes Location, Retry-After, X-Request-Id', async () => {
    let n = 0;
    const ask = async (path: string, init: { method?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {}) => {
      n += 1;
      const requestId = `rid-${n}`;
      const answer = await request(`${url}${path}`, { ...init, headers: { Origin: ORIGIN, 'X-Request-Id': requestId, ...init.headers } });
      return { requestId, answer };
    };
    const created = await ask('/v1/jobs', { json: { text: BEES }, headers: auth });
    expect(created.answer.status).toBe(202);
    const jobId = created.answer.body.jobId as string;
    const answers = [
      created,
      await ask(`/v1/jobs/${jobId}`, { headers: auth }),
      await ask('/healthz'),
      await ask('/readyz'),
      await ask('/'),
      await ask('/v1/nothing'),
      await ask('/v1/jobs', { json: { nope: true }, headers: auth }),
      await ask('/v1/jobs', { body: 'text', headers: { ...auth, 'Content-Type': 'text/plain' } }),
      await ask('/v1/jobs', { json: { text: BEES } }),
      await ask(`/v1/jobs/${UNKNOWN_JOB}`, { method: 'DELETE', headers: auth }),
      await ask(`/v1/jobs/${jobId}/events`, { json: { status: 'done' }, headers: auth }),
    ];
    expect(answers.map(({ answer }) => answer.status)).toEqual([202, 200, 200, 200, 200, 404, 400, 415, 401, 404, 409]);
    for (const { requestId, answer } of answers) {
      expect(answer.headers.get('x-request-id')).toBe(requestId);
      expect(answer.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(answer.headers.get('access-control-expose-headers')).toBe('Location,Retry-After,X-Request-Id');
    }
    expect(created.answer.headers.get('location')).toBe(`/v1/jobs/${jobId}`);

    // The stream's own answer, with the same CORS.
    const stream = SseClient.open(`${url}/v1/jobs/${jobId}/events`, { ...auth, Origin: ORIGIN, 'X-Request-Id': 'rid-stream' });
    await stream.waitFor((client) => client.events.length === 1);
    stream.close();
    expect(stream.headers.get('x-request-id')).toBe('rid-stream');
    expect(stream.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(stream.headers.get('access-control-expose-headers')).toBe('Location,Retry-After,X-Request-Id');

    // A preflight names the documented methods and request headers.
    const preflight = await fetch(`${url}/v1/jobs`, {
      method: 'OPTIONS',
      headers: {
        Origin: ORIGIN,
        'Access-Control-Request-Method': 'DELETE',
        'Access-Control-Request-Headers': 'last-event-id',
        'X-Request-Id': 'rid-pre',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('x-request-id')).toBe('rid-pre');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET,POST,DELETE');
    expect(preflight.headers.get('access-control-allow-headers')).toBe(
      'Authorization,Content-Type,Idempotency-Key,Last-Event-ID,X-Request-Id',
    );

    // An id that is not 1–128 characters of [A-Za-z0-9._-] is replaced by a new UUID; 128 are kept.
    const longest = 'a'.repeat(128);
    for (const [sent, kept] of [
      [longest, true],
      ['a'.repeat(129), false],
      ['not sane: {"x":1}', false],
    ] as const) {
      const answer = await request(`${url}/healthz`, { headers: { 'X-Request-Id': sent } });
      if (kept) expect(answer.headers.get('x-request-id')).toBe(sent);
      else expect(answer.headers.get('x-request-id')).toMatch(UUID);
    }
    const noId = await request(`${url}/healthz`);
    expect(noId.headers.get('x-request-id')).toMatch(UUID);

    // What Node's HTTP parser refuses before any route runs: headers too large (431), bytes that
    // are no HTTP (400). Nothing of the request could be read: a new UUID.
    const refused = [
      await wire(port, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]),
      await wire(port, ['NOT HTTP AT ALL\r\n\r\n']),
    ];
    expect(refused.map((answer) => answer.status)).toEqual([431, 400]);
    for (const answer of refused) {
      expect(answer.headers['x-request-id']).toMatch(UUID);
      expect(answer.closedByServer).toBe(true);
    }
  });

  it('200 (a finished job’s whole history), 400, 401, 403, 404, 204, 429 and 503 draining: each closes it, on each way a head is read', async () => {
    const finished = await finishedJob(url);
    const queued = (await submit(url, BEES, undefined, auth)).body as { jobId: string; watchToken: string };
    const other = (await submit(url, BEES, undefined, auth)).body as { jobId: string; watchToken: string };
    const ways = Object.keys(WAYS) as Way[];
    let n = 0;
    const ask = (way: Way, path: string, more: Record<string, string> = {}) => {
      n += 1;
      const requestId = `req-${n}.${way.length}`;
      return { requestId, answer: wire(port, WAYS[way](streamHead(path, requestId, more))) };
    };

    for (const way of ways) {
      const whole = ask(way, `/v1/jobs/${finished.jobId}/events`, auth);
      const answer = await whole.answer;
      expectClosingAnswer(answer, 200, null, whole.requestId);
      expect(answer.body).toContain(`id: ${finished.lastEventId}\n`);
    }
    // The client IP's one stream slot is taken from here on: a stream that passes every other check is a 429.
    const holder = SseClient.open(`${url}/v1/jobs/${queued.jobId}/events?token=${queued.watchToken}`);
    await holder.waitFor((client) => client.events.length === 1);
    try {
      const cases: [string, Record<string, string>, number, string | null][] = [
        [`/v1/jobs/${queued.jobId}/events?typed=yes`, auth, 400, 'invalid_request'],
        [`/v1/jobs/${queued.jobId}/events`, {}, 401, 'unauthorized'],
        [`/v1/jobs/${queued.jobId}/events?token=${other.watchToken}`, {}, 403, 'forbidden'],
        [`/v1/jobs/${UNKNOWN_JOB}/events`, auth, 404, 'not_found'],
        [`/v1/jobs/${finished.jobId}/events`, { ...auth, 'Last-Event-ID': finished.lastEventId }, 204, null],
        [`/v1/jobs/${queued.jobId}/events`, auth, 429, 'rate_limited'],
      ];
      for (const way of ways) {
        for (const [path, more, status, code] of cases) {
          const { requestId, answer } = ask(way, path, more);
          expectClosingAnswer(await answer, status, code, requestId);
        }
      }
    } finally {
      holder.close();
    }

    // Requests on their way when the replica starts draining: 503 draining, and closed.
    const requestIds = ways.map((way) => `drain-${way.length}`);
    const drained = await duringDrain(
      system,
      port,
      ways.map((way, i) => WAYS[way](streamHead(`/v1/jobs/${queued.jobId}/events`, requestIds[i]!, auth))),
    );
    for (const [i, answer] of drained.answers.entries()) {
      expectClosingAnswer(answer, 503, 'draining', requestIds[i]!);
      expect(answer.headers['retry-after']).toBe('1');
    }
    await drained.closed;
  });
});

describe('a stream request that fails several checks gets the first one’s answer: typed and cursor, draining, credential, capacity', () => {
  let system: TestSystem;
  let url: string;
  let port: number;
  beforeAll(async () => {
    // One stream fills the replica; no per-IP limit, so capacity is what refuses.
    system = await startSystem({
      replicas: 1,
      workers: 0,
      env: { ...AUTH_ON, MAX_SSE_CLIENTS: '1', MAX_SSE_CLIENTS_PER_IP: '0', SHUTDOWN_GRACE_MS: '500' },
    });
    url = system.apis[0]!.url;
    port = Number(new URL(url).port);
  });
  afterAll(() => system.close());

  const codeOf = (answer: WireAnswer): string => `${answer.status} ${JSON.parse(answer.body).error.code}`;
  const ask = async (path: string, more: Record<string, string> = {}): Promise<string> => {
    const answer = await wire(port, WAYS['bare, head in one write'](streamHead(path, 'order', more)));
    expect(answer.closedByServer).toBe(true);
    return codeOf(answer);
  };

  it('on a job’s, a batch’s and the multi-job stream', async () => {
    const job = (await submit(url, BEES, undefined, auth)).body as { jobId: string; watchToken: string };
    const other = (await submit(url, BEES, undefined, auth)).body as { jobId: string; watchToken: string };
    const batch = await request(`${url}/v1/batches`, { json: { items: [{ text: BEES }] }, headers: auth });
    expect(batch.status).toBe(202);
    const batchId = batch.body.batchId as string;
    const paths = {
      job: (id: string, query = '') => `/v1/jobs/${id}/events${query ? `?${query}` : ''}`,
      batch: (id: string, query = '') => `/v1/batches/${id}/events${query ? `?${query}` : ''}`,
      jobs: (id: string, query = '') => `/v1/events?jobs=${id}${query ? `&${query}` : ''}`,
    };
    const ids = { job: job.jobId, batch: batchId, jobs: job.jobId };
    const unknown = { job: UNKNOWN_JOB, batch: UNKNOWN_JOB, jobs: UNKNOWN_JOB };

    // A free replica answers each the ordinary way: the refusals below are the checks' order, not the requests'.
    for (const kind of ['job', 'batch', 'jobs'] as const) expect(await ask(paths[kind](unknown[kind]), auth)).toBe('404 not_found');

    const holder = SseClient.open(`${url}/v1/jobs/${job.jobId}/events`, auth);
    await holder.waitFor((client) => client.events.length === 1);
    try {
      for (const kind of ['job', 'batch', 'jobs'] as const) {
        const path = paths[kind];
        // typed (400) before the credential and the capacity
        expect(await ask(path(ids[kind], 'typed=yes'))).toBe('400 invalid_request');
        // a cursor (400) likewise
        expect(await ask(path(ids[kind]), { 'Last-Event-ID': 'nope' })).toBe('400 invalid_request');
        // the credential (401) before the capacity, and before the job is looked up
        expect(await ask(path(ids[kind]))).toBe('401 unauthorized');
        expect(await ask(path(unknown[kind]))).toBe('401 unauthorized');
        // the capacity (503) before the job is looked up
        expect(await ask(path(ids[kind]), auth)).toBe('503 replica_full');
        expect(await ask(path(unknown[kind]), auth)).toBe('503 replica_full');
      }
      // a token for another job (403) before the capacity
      expect(await ask(paths.job(job.jobId, `token=${other.watchToken}`))).toBe('403 forbidden');
      expect(await ask(paths.jobs(job.jobId, `token=${other.watchToken}`))).toBe('403 forbidden');

      // Draining before the credential and the capacity, after typed and the cursor.
      const halfSent = (path: string, more: Record<string, string> = {}) =>
        WAYS['bare, head in one write'](streamHead(path, 'order', more));
      const { answers, closed } = await duringDrain(system, port, [
        halfSent(paths.job(job.jobId)),
        halfSent(paths.batch(batchId), auth),
        halfSent(paths.jobs(UNKNOWN_JOB)),
        halfSent(paths.job(job.jobId, `token=${other.watchToken}`)),
        halfSent(paths.job(job.jobId, 'typed=yes')),
        halfSent(paths.jobs(job.jobId), { 'Last-Event-ID': 'nope' }),
      ]);
      for (const answer of answers) expect(answer.closedByServer).toBe(true);
      expect(answers.map(codeOf)).toEqual([
        '503 draining',
        '503 draining',
        '503 draining',
        '503 draining',
        '400 invalid_request',
        '400 invalid_request',
      ]);
      await closed;
    } finally {
      holder.close();
    }
  });
});
