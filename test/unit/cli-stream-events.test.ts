import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError } from '../../apps/cli/src/exit-codes.ts';
import { formatLine } from '../../apps/cli/src/render/format.ts';
import { streamEvents, type Reconnect, type StreamedEvent } from '../../apps/cli/src/sse/stream-events.ts';

// The CLI's resume loop against a scripted SSE server: each request gets the next handler.
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server | undefined;
const seenCursors: (string | undefined)[] = [];

async function serve(handlers: Handler[]): Promise<string> {
  seenCursors.length = 0;
  server = createServer((req, res) => {
    seenCursors.push(req.headers['last-event-id'] as string | undefined);
    const handler = handlers.shift();
    if (handler) handler(req, res);
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

const event = (status: string, progress: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ jobId: 'j1', status, progress, message: `${status} ${progress}`, ts: 1, ...extra });
const sse = (res: ServerResponse, body: string, end = true): void => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
  if (end) res.end(body);
  else res.write(body);
};

async function collect(baseUrl: string, options: { maxRetries?: number; idleTimeoutMs?: number } = {}) {
  const events: StreamedEvent[] = [];
  const reconnects: Reconnect[] = [];
  let error: unknown;
  try {
    for await (const item of streamEvents({
      baseUrl,
      jobId: 'j1',
      initialRetryMs: 10,
      onReconnect: (r) => reconnects.push(r),
      ...options,
    })) {
      events.push(item);
    }
  } catch (caught) {
    error = caught;
  }
  return { events, reconnects, error };
}

describe('streamEvents', () => {
  it('resumes after a stream that ends early, with Last-Event-ID, and stops at a 204', async () => {
    const url = await serve([
      (_, res) => sse(res, `retry: 20\n\nid: 1-0\ndata: ${event('queued', 0)}\n\nid: 2-0\ndata: ${event('processing', 10)}\n\n`),
      (_, res) => res.writeHead(204).end(),
    ]);
    const { events, reconnects, error } = await collect(url);
    expect(error).toBeUndefined();
    expect(events.map((e) => e.id)).toEqual(['1-0', '2-0']);
    expect(seenCursors).toEqual([undefined, '2-0']);
    // The server's retry: value is the first delay.
    expect(reconnects).toEqual([{ attempt: 1, maxRetries: 5, delayMs: 20, reason: 'the server closed the stream before the job ended' }]);
  });

  it('ends after the terminal event without another request', async () => {
    const url = await serve([(_, res) => sse(res, `id: 1-0\ndata: ${event('done', 100, { result: 'R' })}\n\n`, false)]);
    const { events, error } = await collect(url);
    expect(error).toBeUndefined();
    expect(events.map((e) => e.event.result)).toEqual(['R']);
    expect(seenCursors).toEqual([undefined]);
  });

  it('retries a 503 after its Retry-After, and doubles the delay while failures go on', async () => {
    const busy: Handler = (_, res) =>
      res
        .writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '0' })
        .end('{"error":{"code":"draining","message":"Draining"}}');
    const url = await serve([busy, busy, (_, res) => sse(res, `id: 1-0\ndata: ${event('cancelled', 0)}\n\n`)]);
    const { events, reconnects, error } = await collect(url);
    expect(error).toBeUndefined();
    expect(events.map((e) => e.event.status)).toEqual(['cancelled']);
    expect(reconnects.map((r) => [r.attempt, r.delayMs, r.reason])).toEqual([
      [1, 10, 'Draining [HTTP 503]'],
      [2, 20, 'Draining [HTTP 503]'],
    ]);
  });

  it('gives up after maxRetries failures in a row; an event resets the count', async () => {
    const empty: Handler = (_, res) => sse(res, 'retry: 5\n\n');
    const one: Handler = (_, res) => sse(res, `id: 1-0\ndata: ${event('queued', 0)}\n\n`);
    // Two failures, then an event (the count restarts: that stream's early end is failure 1),
    // one more failure (2), and the next (3 > maxRetries) gives up.
    const url = await serve([empty, empty, one, empty, empty, empty]);
    const { events, error } = await collect(url, { maxRetries: 2 });
    expect(events).toHaveLength(1);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(4);
    expect((error as CliError).message).toMatch(/^gave up after 3 failed attempts in a row/);
    expect(seenCursors).toEqual([undefined, undefined, undefined, '1-0', '1-0']);
  });

  it("stops at once on a 404 with the server's message", async () => {
    const url = await serve([
      (_, res) => res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":{"code":"not_found","message":"No such job"}}'),
    ]);
    const { error } = await collect(url);
    expect((error as CliError).message).toBe('No such job [HTTP 404]');
    expect(seenCursors).toHaveLength(1);
  });

  it('refuses an event that does not match the shared schema', async () => {
    const url = await serve([
      (_, res) => sse(res, `id: 1-0\ndata: {"jobId":"j1","status":"exploded","progress":0,"message":"","ts":1}\n\n`),
    ]);
    const { error } = await collect(url);
    expect((error as CliError).exitCode).toBe(4);
    expect((error as CliError).message).toMatch(/invalid event: status/);
  });

  it('drops a connection that goes silent and resumes from its cursor', async () => {
    const url = await serve([
      (_, res) => sse(res, `id: 1-0\ndata: ${event('queued', 0)}\n\n`, false), // then nothing, not even a heartbeat
      (_, res) => sse(res, `id: 2-0\ndata: ${event('done', 100, { result: 'R' })}\n\n`),
    ]);
    const { events, reconnects, error } = await collect(url, { idleTimeoutMs: 600 }); // room for a stall before headers
    expect(error).toBeUndefined();
    expect(events.map((e) => e.id)).toEqual(['1-0', '2-0']);
    expect(reconnects[0]!.reason).toBe('no data for 600 ms');
    expect(seenCursors).toEqual([undefined, '1-0']);
  });
});

describe('formatLine', () => {
  it('pads the percentage and prefers the stage over the status', () => {
    expect(
      formatLine({ jobId: 'j', status: 'processing', progress: 30, stage: 'analyzing', message: 'Analyzing 3 sentences', ts: 1 }),
    ).toBe('[ 30%] analyzing: Analyzing 3 sentences');
    expect(formatLine({ jobId: 'j', status: 'cancelled', progress: 100, message: 'Cancelled', ts: 1 })).toBe('[100%] cancelled: Cancelled');
  });
});
