import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError, createClient, type Reconnect, type WatchOptions } from '../../../packages/client/src/index.ts';
import { freePort } from '../../support/free-port.ts';

// @herald/client's resuming watch against a scripted server: each connection gets the next
// script, which sees the request (its Last-Event-ID) and writes what a Herald replica — or a
// failing one — would.

type Script = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server | undefined;
const seen: { lastEventId: string | undefined; url: string }[] = [];

async function scripted(scripts: Script[]): Promise<string> {
  seen.length = 0;
  server = createServer((req, res) => {
    seen.push({ lastEventId: req.headers['last-event-id'] as string | undefined, url: req.url ?? '' });
    const script = scripts.shift();
    if (script) script(req, res);
    else res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

/** Watches job `j` to its end or its error: what it yielded, each reconnection, and how it ended. */
async function watchAll(base: string, options: WatchOptions = {}) {
  const events: { id: string; status: string }[] = [];
  const reconnects: Reconnect[] = [];
  let error: unknown;
  try {
    for await (const item of createClient({ baseUrl: base }).watch('j', {
      initialRetryMs: 10,
      onReconnect: (reconnect) => reconnects.push(reconnect),
      ...options,
    })) {
      events.push({ id: item.id, status: item.event.status });
    }
  } catch (caught) {
    error = caught;
  }
  return { events, reconnects, error };
}

const ev = (id: string, fields: Record<string, unknown>, name = 'progress') =>
  `event: ${name}\nid: ${id}\ndata: ${JSON.stringify({ jobId: 'j', progress: 0, message: '', ts: 1, ...fields })}\n\n`;
const stream =
  (...frames: string[]): Script =>
  (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end(`retry: 20\n\n${frames.join('')}`);
  };

describe('createClient().watch', () => {
  it('resumes after a drop with Last-Event-ID, each event once, and folds the text being written', async () => {
    const base = await scripted([
      stream(ev('1-0', { status: 'queued' }), ev('2-0', { status: 'processing', progress: 50, delta: 'Bees ', offset: 0 }, 'delta')),
      stream(
        ev('3-0', { status: 'processing', progress: 80, delta: 'make honey.', offset: 5 }, 'delta'),
        ev('4-0', { status: 'done', progress: 100, result: 'Bees make honey.' }, 'done'),
      ),
    ]);
    const got = [];
    for await (const item of createClient({ baseUrl: base }).watch('j')) got.push([item.id, item.event.status, item.partial]);
    expect(got).toEqual([
      ['1-0', 'queued', ''],
      ['2-0', 'processing', 'Bees '],
      ['3-0', 'processing', 'Bees make honey.'],
      ['4-0', 'done', 'Bees make honey.'],
    ]);
    expect(seen.map((request) => request.lastEventId)).toEqual([undefined, '2-0']);
    expect(seen[0]!.url).toBe('/v1/jobs/j/events?typed=1');
  });

  it('does not report a load balancer’s stand-in (Herald-Unavailable) as open, and keeps coming back from its cursor', async () => {
    const standIn: Script = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Herald-Unavailable': '1' });
      res.end('retry: 20\n\n');
    };
    const base = await scripted([
      stream(ev('1-0', { status: 'queued' })),
      standIn,
      standIn,
      stream(ev('2-0', { status: 'done', progress: 100, result: 'r' }, 'done')),
    ]);
    const opened: number[] = [];
    const { events, reconnects, error } = await watchAll(base, { onOpen: () => opened.push(seen.length) });
    expect(error).toBeUndefined();
    expect(events.map((event) => event.id)).toEqual(['1-0', '2-0']);
    // Open on the first and the last connection only: never while only stand-ins answered.
    expect(opened).toEqual([1, 4]);
    expect(reconnects.map((reconnect) => reconnect.reason)).toEqual([
      'the server closed the stream before its end',
      'no replica could take the stream',
      'no replica could take the stream',
    ]);
    expect(seen.map((request) => request.lastEventId)).toEqual([undefined, '1-0', '1-0', '1-0']);
  });

  it('starts after a given cursor, and stops quietly on 204', async () => {
    const base = await scripted([(_req, res) => res.writeHead(204).end()]);
    const got = [];
    for await (const item of createClient({ baseUrl: base }).watch('j', { lastEventId: '9-0' })) got.push(item);
    expect(got).toEqual([]);
    expect(seen.map((request) => request.lastEventId)).toEqual(['9-0']);
  });

  it('understands a resync: the state replaces what it had, then folding goes on from its text', async () => {
    const resync = `event: resync\nid: 7-0\ndata: ${JSON.stringify({ jobId: 'j', status: 'processing', progress: 60, message: 'Writing', partial: 'Bees make', createdAt: 1, updatedAt: 2, lastEventId: '7-0', resync: true, ts: 3 })}\n\n`;
    const base = await scripted([
      stream(
        resync,
        ev('8-0', { status: 'processing', progress: 70, delta: ' honey.', offset: 9 }, 'delta'),
        ev('9-0', { status: 'done', progress: 100, result: 'Bees make honey.' }, 'done'),
      ),
    ]);
    const got = [];
    for await (const item of createClient({ baseUrl: base }).watch('j', { lastEventId: '1-0' }))
      got.push([item.resync, item.event.status, item.partial]);
    expect(got).toEqual([
      [true, 'processing', 'Bees make'],
      [false, 'processing', 'Bees make honey.'],
      [false, 'done', 'Bees make honey.'],
    ]);
  });

  it('retries what a retry can mend (503, a drop) within its budget, then gives up with a HeraldError', async () => {
    const unavailable: Script = (_req, res) =>
      res
        .writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '0' })
        .end('{"error":{"code":"draining","message":"draining"}}');
    const base = await scripted([unavailable, unavailable, unavailable, unavailable]);
    const watching = (async () => {
      for await (const _ of createClient({ baseUrl: base }).watch('j', { maxRetries: 3, initialRetryMs: 10 })) {
        /* nothing arrives */
      }
    })();
    await expect(watching).rejects.toMatchObject({ name: 'HeraldError', code: 'gave_up', status: 0 });
    expect(seen).toHaveLength(4);
  });

  it('does not retry what no retry can mend: a 404 is Herald’s error, at once', async () => {
    const base = await scripted([
      (_req, res) =>
        res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":{"code":"not_found","message":"No such job"}}'),
    ]);
    const watching = (async () => {
      for await (const _ of createClient({ baseUrl: base }).watch('j')) {
        /* nothing */
      }
    })();
    const error = await watching.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HeraldError);
    expect(error).toMatchObject({ status: 404, code: 'not_found', message: 'No such job' });
    expect(seen).toHaveLength(1);
  });

  it('sends the watch token, or else the API key, as a bearer: never in the URL', async () => {
    const auth: (string | undefined)[] = [];
    const done = ev('1-0', { status: 'done', progress: 100, result: 'x' }, 'done');
    const base = await scripted([
      (req, res) => {
        auth.push(req.headers.authorization);
        stream(done)(req, res);
      },
      (req, res) => {
        auth.push(req.headers.authorization);
        stream(done)(req, res);
      },
    ]);
    const client = createClient({ baseUrl: base, apiKey: 'key-1' });
    for await (const _ of client.watch('j', { token: 'tok' })) {
      /* one event */
    }
    for await (const _ of client.watch('j')) {
      /* one event */
    }
    expect(seen.map((request) => request.url)).toEqual(['/v1/jobs/j/events?typed=1', '/v1/jobs/j/events?typed=1']);
    expect(auth).toEqual(['Bearer tok', 'Bearer key-1']);
  });

  it('ends after the terminal event without another request, even while the response stays open', async () => {
    const base = await scripted([
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write(ev('1-0', { status: 'done', progress: 100, result: 'R' }, 'done')); // and never ends
      },
    ]);
    const { events, error } = await watchAll(base);
    expect(error).toBeUndefined();
    expect(events).toEqual([{ id: '1-0', status: 'done' }]);
    expect(seen).toHaveLength(1);
  });

  it('waits a 503’s Retry-After, else the server’s retry: doubling while failures go on, and says why', async () => {
    const draining: Script = (_req, res) =>
      res
        .writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '0' })
        .end('{"error":{"code":"draining","message":"Draining"}}');
    const base = await scripted([draining, draining, stream(ev('1-0', { status: 'cancelled' }, 'cancelled'))]);
    const { events, reconnects, error } = await watchAll(base, { maxRetries: 5 });
    expect(error).toBeUndefined();
    expect(events.map((event) => event.status)).toEqual(['cancelled']);
    expect(reconnects).toEqual([
      { attempt: 1, maxRetries: 5, delayMs: 10, reason: 'Draining [HTTP 503]' },
      { attempt: 2, maxRetries: 5, delayMs: 20, reason: 'Draining [HTTP 503]' },
    ]);
  });

  it('counts only failures in a row against maxRetries: an event starts the count again', async () => {
    const empty = stream();
    const one = stream(ev('1-0', { status: 'queued' }));
    // Two failures, then an event (that stream's early end is failure 1 again), one more
    // failure (2), and the next (3 > maxRetries) gives up.
    const base = await scripted([empty, empty, one, empty, empty, empty]);
    const { events, reconnects, error } = await watchAll(base, { maxRetries: 2 });
    expect(events).toHaveLength(1);
    expect(error).toMatchObject({ name: 'HeraldError', code: 'gave_up', status: 0 });
    expect((error as HeraldError).message).toBe('gave up after 3 failed attempts in a row: the server closed the stream before its end');
    expect(reconnects.map((reconnect) => reconnect.attempt)).toEqual([1, 2, 1, 2]);
    // The server's retry: 20 is the first delay after each success, then doubling.
    expect(reconnects.map((reconnect) => reconnect.delayMs)).toEqual([20, 40, 20, 40]);
    expect(seen.map((request) => request.lastEventId)).toEqual([undefined, undefined, undefined, '1-0', '1-0']);
  });

  it('drops a connection that goes silent (no event, no heartbeat) and resumes from its cursor', async () => {
    const base = await scripted([
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.write(ev('1-0', { status: 'queued' })); // then nothing at all
      },
      stream(ev('2-0', { status: 'done', progress: 100, result: 'R' }, 'done')),
    ]);
    const { events, reconnects, error } = await watchAll(base, { idleTimeoutMs: 600 });
    expect(error).toBeUndefined();
    expect(events.map((event) => event.id)).toEqual(['1-0', '2-0']);
    expect(reconnects.map((reconnect) => reconnect.reason)).toEqual(['no data for 600 ms']);
    expect(seen.map((request) => request.lastEventId)).toEqual([undefined, '1-0']);
  });

  it('says which address it cannot reach, with the system’s code, and gives up after its budget', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const { reconnects, error } = await watchAll(nowhere, { maxRetries: 1 });
    expect(reconnects.map((reconnect) => reconnect.reason)).toEqual([`cannot reach ${nowhere}: ECONNREFUSED`]);
    expect((error as HeraldError).message).toBe(`gave up after 2 failed attempts in a row: cannot reach ${nowhere}: ECONNREFUSED`);
  });

  it('refuses, at once, an event the contract does not allow, or one of another job', async () => {
    const invalid = await scripted([stream(ev('1-0', { status: 'exploded' }))]);
    const refused = await watchAll(invalid);
    expect(refused.error).toMatchObject({ name: 'HeraldError', code: 'invalid_event' });
    expect((refused.error as HeraldError).message).toMatch(/^the server sent an invalid event: status: /);
    server!.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
    const foreign = await scripted([
      stream(`id: 1-0\ndata: ${JSON.stringify({ jobId: 'k', status: 'queued', progress: 0, message: '', ts: 1 })}\n\n`),
    ]);
    const other = await watchAll(foreign);
    expect((other.error as HeraldError).message).toBe('the server sent an invalid event: it belongs to job k');
    expect(seen).toHaveLength(1);
  });
});

describe('createClient().watch with getToken', () => {
  const refusal =
    (code: string, message: string): Script =>
    (_req, res) =>
      res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code, message } }));
  const expired = refusal('token_expired', 'The watch token has expired');

  /** A scripted server that also records each request's Authorization; getToken hands out `tokens` in turn. */
  async function withTokens(scripts: Script[], tokens: (string | Error)[]) {
    const auth: (string | undefined)[] = [];
    const base = await scripted(
      scripts.map((script) => (req: IncomingMessage, res: ServerResponse) => {
        auth.push(req.headers.authorization);
        script(req, res);
      }),
    );
    let calls = 0;
    const getToken = async (): Promise<string> => {
      const next = tokens[Math.min(calls, tokens.length - 1)]!;
      calls += 1;
      if (next instanceof Error) throw next;
      return next;
    };
    return { base, auth, getToken, calls: () => calls };
  }

  it('asks before the first connection; after a token_expired resumes from the same cursor with a fresh token, at once', async () => {
    const { base, auth, getToken, calls } = await withTokens(
      [stream(ev('1-0', { status: 'queued' })), expired, stream(ev('2-0', { status: 'done', progress: 100, result: 'R' }, 'done'))],
      ['t1', 't2'],
    );
    const { events, reconnects, error } = await watchAll(base, { getToken });
    expect(error).toBeUndefined();
    expect(events.map((event) => event.id)).toEqual(['1-0', '2-0']);
    expect(calls()).toBe(2);
    expect(auth).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t2']);
    expect(seen.map((request) => request.lastEventId)).toEqual([undefined, '1-0', '1-0']);
    // The drop is a failed attempt; the renewal of a token that had opened a stream is not.
    expect(reconnects.map((reconnect) => reconnect.reason)).toEqual(['the server closed the stream before its end']);
  });

  it('wins over the watch token and the API key', async () => {
    const { base, auth, getToken } = await withTokens(
      [stream(ev('1-0', { status: 'done', progress: 100, result: 'R' }, 'done'))],
      ['fresh'],
    );
    for await (const _ of createClient({ baseUrl: base, apiKey: 'key-1' }).watch('j', { token: 'old', getToken })) {
      /* one event */
    }
    expect(auth).toEqual(['Bearer fresh']);
  });

  it('counts a token refused before it opened any stream as a failed attempt, and ends with token_expired past maxRetries', async () => {
    const { base, getToken, calls } = await withTokens([expired, expired, expired, expired], ['a', 'b', 'c', 'd']);
    const { events, reconnects, error } = await watchAll(base, { getToken, maxRetries: 2 });
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(HeraldError);
    expect(error).toMatchObject({ status: 401, code: 'token_expired' });
    expect(seen).toHaveLength(3);
    expect(calls()).toBe(3);
    expect(reconnects.map((reconnect) => [reconnect.attempt, reconnect.reason])).toEqual([
      [1, 'The watch token has expired [HTTP 401]'],
      [2, 'The watch token has expired [HTTP 401]'],
    ]);
  });

  it('ends at once, with the token_expired, when getToken hands back the very token just refused', async () => {
    const { base, getToken, calls } = await withTokens([stream(ev('1-0', { status: 'queued' })), expired], ['same']);
    const { events, error } = await watchAll(base, { getToken });
    expect(events.map((event) => event.id)).toEqual(['1-0']);
    expect(error).toMatchObject({ status: 401, code: 'token_expired' });
    expect(seen).toHaveLength(2);
    expect(calls()).toBe(2);
  });

  it('ends with getToken’s own error, as it is, before the first connection or after an expiry', async () => {
    const noSession = new Error('no session');
    const first = await withTokens([], [noSession]);
    expect((await watchAll(first.base, { getToken: first.getToken })).error).toBe(noSession);
    expect(seen).toHaveLength(0);
    server!.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
    const later = await withTokens([stream(ev('1-0', { status: 'queued' })), expired], ['t1', noSession]);
    const { events, error } = await watchAll(later.base, { getToken: later.getToken });
    expect(events).toHaveLength(1);
    expect(error).toBe(noSession);
  });

  it('is passed on by watchBatch and watchJobs: the same renewal on their streams', async () => {
    const batchDone = `id: 2-0\ndata: ${JSON.stringify({ batchId: 'b', status: 'done', progress: 100, counts: { queued: 0, processing: 0, done: 1, error: 0, cancelled: 0 }, ts: 1 })}\n\n`;
    const { base, auth, getToken } = await withTokens(
      [expired, stream(batchDone), expired, stream(ev('3-0', { status: 'done', progress: 100, result: 'R' }, 'done'))],
      ['t1', 't2', 't3', 't4'],
    );
    const client = createClient({ baseUrl: base });
    const batch = [];
    for await (const item of client.watchBatch('b', { getToken, initialRetryMs: 1 })) batch.push(item.kind);
    const jobs = [];
    for await (const item of client.watchJobs(['j'], { getToken, initialRetryMs: 1 })) jobs.push(item.id);
    expect([batch, jobs]).toEqual([['batch'], ['3-0']]);
    expect(auth).toEqual(['Bearer t1', 'Bearer t2', 'Bearer t3', 'Bearer t4']);
  });

  it('ends at once with the abort reason when aborted while getToken has not answered, asking nothing more', async () => {
    const { base, getToken: firstToken } = await withTokens([stream(ev('1-0', { status: 'queued' })), expired], ['t1']);
    const controller = new AbortController();
    let calls = 0;
    // The first token from the list; the renewal never answers (a backend that hangs).
    const getToken = (): Promise<string> => (calls++ === 0 ? firstToken() : new Promise<string>(() => {}));
    const started = Date.now();
    const watching = watchAll(base, { getToken, signal: controller.signal });
    const aborted = new Promise((resolve) => setTimeout(resolve, 200)).then(() => controller.abort(new Error('unmounted')));
    const { events, error } = await Promise.race([
      watching,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the watch did not end on abort')), 2000)),
    ]);
    await aborted;
    expect(events.map((event) => event.id)).toEqual(['1-0']);
    expect(error).toMatchObject({ message: 'unmounted' });
    expect(calls).toBe(2);
    expect(seen).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('does not renew a token refused for another reason (invalid_token): that ends the watch at once', async () => {
    const { base, getToken, calls } = await withTokens([refusal('invalid_token', 'The watch token is not valid')], ['forged']);
    const { error } = await watchAll(base, { getToken });
    expect(error).toMatchObject({ status: 401, code: 'invalid_token' });
    expect(calls()).toBe(1);
    expect(seen).toHaveLength(1);
  });
});
