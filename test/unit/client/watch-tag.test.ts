import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type WatchedTagEvent } from '../../../packages/client/src/index.ts';

// @herald/client's watchTag against a stand-in for GET /v1/events?tag=T on 127.0.0.1, speaking
// the tag stream's wire contract: typed frames (`created` for a job's first event), opaque
// cursors, a `resync` notice without a jobId, and a stream that never ends by itself. Each
// connection gets the next script, which sees the request (its Last-Event-ID).

type Script = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server | undefined;
const seen: { lastEventId: string | undefined; url: string; authorization: string | undefined }[] = [];

async function scripted(scripts: Script[]): Promise<string> {
  seen.length = 0;
  server = createServer((req, res) => {
    seen.push({
      lastEventId: req.headers['last-event-id'] as string | undefined,
      url: req.url ?? '',
      authorization: req.headers.authorization,
    });
    const script = scripts.shift();
    if (script) script(req, res);
    else res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"error":{"code":"draining","message":"no more scripts"}}');
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

/** One frame of job `jobId`; the cursor is opaque to the client (here a made-up composite). */
const ev = (id: string, jobId: string, fields: Record<string, unknown>, name = 'progress') =>
  `event: ${name}\nid: ${id}\ndata: ${JSON.stringify({ jobId, progress: 0, message: '', ts: 1, ...fields })}\n\n`;
const created = (id: string, jobId: string, metadata?: Record<string, unknown>) =>
  ev(id, jobId, { status: 'queued', ...(metadata ? { metadata } : {}) }, 'created');
const resync = (id: string, tag: string) => `event: resync\nid: ${id}\ndata: ${JSON.stringify({ tag, resync: true, ts: 5 })}\n\n`;
/** A connection that sends these frames, then drops (the server went away). */
const dropsAfter =
  (...frames: string[]): Script =>
  (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end(`retry: 10\n\n${frames.join('')}`);
  };
/** A connection that sends these frames and stays open, as the tag stream does. */
const staysOpen =
  (...frames: string[]): Script =>
  (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(`retry: 10\n\n${frames.join('')}`);
  };

/** Reads `count` items of the tag's stream, then stops (the stream itself never ends). */
async function take(base: string, tag: string, count: number, options: Parameters<ReturnType<typeof createClient>['watchTag']>[1] = {}) {
  const items: WatchedTagEvent[] = [];
  if (count === 0) return items;
  for await (const item of createClient({ baseUrl: base }).watchTag(tag, { initialRetryMs: 10, ...options })) {
    items.push(item);
    if (items.length === count) break;
  }
  return items;
}

const brief = (item: WatchedTagEvent) =>
  item.kind === 'resync'
    ? ['resync', item.id, item.tag]
    : [item.id, item.jobId, item.event.status, item.created, item.partial, item.metadata, item.streams];

describe('createClient().watchTag', () => {
  it('asks for the tag’s typed stream and folds each job apart: text, metadata and streams, as watchJobs does', async () => {
    const base = await scripted([
      staysOpen(
        created('c1', 'a', { user: 'u1' }),
        created('c2', 'b'),
        ev('c3', 'a', { status: 'processing', delta: 'Bees ', offset: 0 }, 'delta'),
        ev('c4', 'b', { status: 'processing', delta: 'log1', offset: 0, stream: 'logs', metadata: { step: 1 } }, 'delta'),
        ev('c5', 'a', { status: 'processing', delta: 'buzz.', offset: 5, metadata: { user: null, n: 2 } }, 'delta'),
      ),
    ]);
    const items = await take(base, 'user:1', 5);
    expect(items.map(brief)).toEqual([
      ['c1', 'a', 'queued', true, '', { user: 'u1' }, {}],
      ['c2', 'b', 'queued', true, '', {}, {}],
      ['c3', 'a', 'processing', false, 'Bees ', { user: 'u1' }, {}],
      ['c4', 'b', 'processing', false, '', { step: 1 }, { logs: 'log1' }],
      ['c5', 'a', 'processing', false, 'Bees buzz.', { n: 2 }, {}],
    ]);
    expect(seen.map((request) => request.url)).toEqual(['/v1/events?tag=user%3A1&typed=1']);
  });

  it('resumes after a dropped connection with Last-Event-ID: each event once, a job created during the drop included, folds kept', async () => {
    const base = await scripted([
      dropsAfter(created('c1', 'a'), ev('c2', 'a', { status: 'processing', delta: 'Half ', offset: 0 }, 'delta')),
      (req, res) => {
        // The replica serves what came after the cursor: a's rest and b, created while the client was away.
        expect(req.headers['last-event-id']).toBe('c2');
        staysOpen(
          ev('c3', 'a', { status: 'processing', delta: 'done.', offset: 5 }, 'delta'),
          created('c4', 'b'),
          ev('c5', 'a', { status: 'done', progress: 100, result: 'Half done.' }, 'done'),
        )(req, res);
      },
    ]);
    const reconnects: string[] = [];
    const items = await take(base, 't', 5, { onReconnect: ({ reason }) => reconnects.push(reason) });
    expect(items.map(brief)).toEqual([
      ['c1', 'a', 'queued', true, '', {}, {}],
      ['c2', 'a', 'processing', false, 'Half ', {}, {}],
      ['c3', 'a', 'processing', false, 'Half done.', {}, {}],
      ['c4', 'b', 'queued', true, '', {}, {}],
      ['c5', 'a', 'done', false, 'Half done.', {}, {}],
    ]);
    expect(seen.map((request) => request.lastEventId)).toEqual([undefined, 'c2']);
    expect(reconnects).toEqual(['the server closed the stream before its end']);
  });

  it('starts after a given cursor, and keeps going after the stream closes: it never ends by itself', async () => {
    const base = await scripted([dropsAfter(), dropsAfter(), staysOpen(created('c9', 'z'))]);
    const items = await take(base, 't', 1, { lastEventId: 'c8' });
    expect(items.map(brief)).toEqual([['c9', 'z', 'queued', true, '', {}, {}]]);
    expect(seen.map((request) => request.lastEventId)).toEqual(['c8', 'c8', 'c8']);
  });

  it('forgets a job’s fold at its end (done, error, cancelled), so what comes after it under that id starts from nothing', async () => {
    const terminals: [string, Record<string, unknown>][] = [
      ['done', { status: 'done', progress: 100, result: 'x' }],
      ['error', { status: 'error', error: { code: 'internal', message: 'boom' } }],
      ['cancelled', { status: 'cancelled' }],
    ];
    for (const [name, fields] of terminals) {
      const base = await scripted([
        staysOpen(
          created('c1', 'a', { keep: 'me' }),
          ev('c2', 'a', { status: 'processing', delta: 'old', offset: 0, metadata: { more: 1 } }, 'delta'),
          ev('c3', 'a', { status: 'processing', delta: 'log', offset: 0, stream: 'logs' }, 'delta'),
          ev('c4', 'a', fields, name),
          // Not the contract (an ended job sends nothing more), but the only way to see from
          // outside whether the fold was kept: a fold kept would show `old`, `keep` and `logs`.
          ev('c5', 'a', { status: 'processing', delta: 'new', offset: 0, metadata: { fresh: true } }, 'delta'),
        ),
      ]);
      const items = await take(base, 't', 5);
      expect(items.map(brief)[4], name).toEqual(['c5', 'a', 'processing', false, 'new', { fresh: true }, {}]);
      server!.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
      server = undefined;
    }
  });

  it('starts a job’s fold afresh at its created event', async () => {
    const base = await scripted([
      staysOpen(
        created('c1', 'a', { v: 1 }),
        ev('c2', 'a', { status: 'processing', delta: 'first', offset: 0, metadata: { w: 2 } }, 'delta'),
        created('c3', 'a', { v: 3 }),
        ev('c4', 'a', { status: 'processing', delta: 'second', offset: 0 }, 'delta'),
      ),
    ]);
    const items = await take(base, 't', 4);
    expect(items.map(brief).slice(2)).toEqual([
      ['c3', 'a', 'queued', true, '', { v: 3 }, {}],
      ['c4', 'a', 'processing', false, 'second', { v: 3 }, {}],
    ]);
  });

  it('yields a resync notice as its own kind, then goes on', async () => {
    const base = await scripted([staysOpen(resync('r1', 'team.x'), created('c2', 'a'))]);
    const items = await take(base, 'team.x', 2, { lastEventId: 'old' });
    expect(items[0]).toEqual({ kind: 'resync', id: 'r1', tag: 'team.x', ts: 5 });
    expect(items.map(brief)[1]).toEqual(['c2', 'a', 'queued', true, '', {}, {}]);
  });

  it('drops every job’s fold at a resync notice: what it folded may have gaps', async () => {
    const base = await scripted([
      staysOpen(
        created('c1', 'a', { v: 1 }),
        ev('c2', 'a', { status: 'processing', delta: 'before', offset: 0, stream: 'log' }, 'delta'),
        ev('c3', 'a', { status: 'processing', delta: 'first ', offset: 0 }, 'delta'),
        resync('r4', 't'),
        ev('c5', 'a', { status: 'processing', delta: 'after', offset: 0, metadata: { w: 2 } }, 'delta'),
      ),
    ]);
    const items = await take(base, 't', 5);
    expect(items.map(brief)[2]).toEqual(['c3', 'a', 'processing', false, 'first ', { v: 1 }, { log: 'before' }]);
    expect(items.map(brief)[4]).toEqual(['c5', 'a', 'processing', false, 'after', { w: 2 }, {}]);
  });

  it('refuses a frame that is neither a job’s event nor this tag’s resync', async () => {
    const base = await scripted([staysOpen(resync('r1', 'other'))]);
    await expect(take(base, 'mine', 1)).rejects.toMatchObject({ name: 'HeraldError', code: 'invalid_event' });
  });

  it('ends with Herald’s error on a 400 (a bad tag), at once, and sends the watch token as a bearer', async () => {
    const base = await scripted([
      (_req, res) =>
        res
          .writeHead(400, { 'Content-Type': 'application/json' })
          .end('{"error":{"code":"invalid_request","message":"tag: a tag is 1 to 64 of the characters"}}'),
    ]);
    await expect(take(base, 'bad tag', 1, { token: 'w.t.k' })).rejects.toMatchObject({
      name: 'HeraldError',
      status: 400,
      code: 'invalid_request',
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBe('Bearer w.t.k');
  });

  it('renews its token with getToken after a 401 token_expired and resumes from the same cursor', async () => {
    const base = await scripted([
      dropsAfter(created('c1', 'a')),
      (_req, res) =>
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":{"code":"token_expired","message":"expired"}}'),
      staysOpen(ev('c2', 'a', { status: 'processing', progress: 10 })),
    ]);
    let minted = 0;
    const items = await take(base, 't', 2, { getToken: async () => `tok-${++minted}` });
    expect(items.map((item) => item.id)).toEqual(['c1', 'c2']);
    expect(seen.map((request) => [request.authorization, request.lastEventId])).toEqual([
      ['Bearer tok-1', undefined],
      ['Bearer tok-1', 'c1'],
      ['Bearer tok-2', 'c1'],
    ]);
  });

  it('ends on abort with the signal’s reason, the stream being open and quiet', async () => {
    const base = await scripted([staysOpen(created('c1', 'a'))]);
    const controller = new AbortController();
    const items: WatchedTagEvent[] = [];
    const watching = (async () => {
      for await (const item of createClient({ baseUrl: base }).watchTag('t', { signal: controller.signal })) {
        items.push(item);
        controller.abort(new Error('enough'));
      }
    })();
    await expect(watching).rejects.toThrow('enough');
    expect(items).toHaveLength(1);
  });
});
