import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_START, parseStreamId } from '@herald/contract';
import { toFanoutEvent, type FanoutEvent } from '../../../apps/api/src/stream/fanout-event.ts';
import { SseWatcher, type WatcherEnd, type WatcherLimits } from '../../../apps/api/src/stream/watcher.ts';
import { pagesOf, storedHistory } from '../../support/history-pages.ts';
import { loopbackServer, until, type LoopbackResponse, type LoopbackServer } from '../../support/loopback-response.ts';

// One SSE client (SseWatcher) on a real loopback socket: its id gate, its bounds, its ends.

let server: LoopbackServer;
beforeAll(async () => {
  server = await loopbackServer();
});
afterAll(() => server.close());

const event = (id: string, status = 'processing', data = `{"n":"${id}"}`): FanoutEvent => toFanoutEvent({ id, status, data })!;
const idsIn = (body: string): string[] => [...body.matchAll(/^id: (.+)$/gm)].map((match) => match[1]!);

interface Watched extends LoopbackResponse {
  readonly watcher: SseWatcher;
  readonly ends: WatcherEnd[];
}

/** A watcher on a fresh response whose head is sent, as the stream route sends it. */
async function watch(limits: Partial<WatcherLimits> = {}, position = STREAM_START): Promise<Watched> {
  const opened = await server.open();
  const ends: WatcherEnd[] = [];
  startStream(opened.res);
  const watcher = new SseWatcher(opened.res, position, { maxBacklogBytes: 1 << 20, maxPendingEvents: 1000, ...limits }, (_watcher, how) =>
    ends.push(how),
  );
  return { ...opened, watcher, ends };
}

function startStream(res: ServerResponse): void {
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
}

describe('SseWatcher', () => {
  it('sends the history, then what arrived meanwhile, then live events: each once, in id order', async () => {
    const { watcher, body } = await watch();
    watcher.deliver(event('3-0')); // live, while the history is still being read: held
    watcher.deliver(event('4-0'));
    await watcher.start(pagesOf([event('1-0'), event('2-0'), event('3-0')]));
    watcher.deliver(event('5-0'));
    await until(() => idsIn(body()).length === 5, 2000, 'five events');
    expect(idsIn(body())).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0']);
  });

  it('passes only events after the last one it sent: a resync re-read or a repeat is dropped', async () => {
    const { watcher, body } = await watch({}, parseStreamId('2-0')!);
    await watcher.start(pagesOf([event('1-0'), event('2-0'), event('3-0')]));
    for (const id of ['2-0', '3-0', '10-0', '9-0', '10-0', '10-1']) watcher.deliver(event(id));
    await until(() => idsIn(body()).includes('10-1'), 2000, 'the last event');
    expect(idsIn(body())).toEqual(['3-0', '10-0', '10-1']);
    expect(watcher.position).toEqual({ ms: 10, seq: 1 });
  });

  it('ends the stream after the terminal event, reports "completed" once, and sends nothing after it', async () => {
    const { watcher, body, ends, closedByServer } = await watch();
    await watcher.start(pagesOf([event('1-0')]));
    watcher.deliver(event('2-0', 'done'));
    watcher.deliver(event('3-0'));
    watcher.writeRaw(Buffer.from(':\n\n'));
    await closedByServer;
    expect(idsIn(body())).toEqual(['1-0', '2-0']);
    expect(body().endsWith('\n\n')).toBe(true);
    expect(ends).toEqual(['completed']);
    expect(watcher.ended).toBe(true);
  });

  it('with a pacer, sends the terminal event at once and leaves the end to it, writing nothing meanwhile', async () => {
    const pending: (() => void)[] = [];
    const { watcher, body, ends, closedByServer } = await watch({ endFinished: (end) => pending.push(end) });
    await watcher.start(pagesOf([]));
    watcher.deliver(event('1-0', 'done'));
    await until(() => idsIn(body()).includes('1-0'), 2000, 'the terminal event');
    watcher.deliver(event('2-0'));
    watcher.writeRaw(Buffer.from(':\n\n'));
    expect(watcher.ended).toBe(false);
    expect(pending).toHaveLength(1);
    pending[0]!();
    await closedByServer;
    expect(body()).not.toContain(':\n\n');
    expect(idsIn(body())).toEqual(['1-0']);
    expect(ends).toEqual(['completed']);
  });

  it('ends on a terminal event found in the history, before going live', async () => {
    const { watcher, body, ends, closedByServer } = await watch();
    watcher.deliver(event('3-0'));
    await watcher.start(pagesOf([event('1-0'), event('2-0', 'cancelled')]));
    await closedByServer;
    expect(idsIn(body())).toEqual(['1-0', '2-0']);
    expect(ends).toEqual(['completed']);
  });

  it('ends when its job ends even when its cursor is past the terminal event (one from the future)', async () => {
    const { watcher, body, ends, closedByServer } = await watch({}, parseStreamId('9999999999999-0')!);
    await watcher.start(pagesOf([]));
    watcher.deliver(event('5-0'));
    watcher.deliver(event('6-0', 'error'));
    await closedByServer;
    expect(idsIn(body())).toEqual([]);
    expect(ends).toEqual(['completed']);
  });

  it('cuts off a client that stops reading once its unsent backlog passes the bound, and says so once', async () => {
    const maxBacklogBytes = 64 * 1024;
    const { watcher, client, ends, res, closedByServer } = await watch({ maxBacklogBytes });
    client.pause();
    await watcher.start(pagesOf([]));
    const big = 'x'.repeat(16 * 1024);
    let sent = 0;
    let highest = 0;
    // Far more than the socket buffers hold: the backlog must build up in the response.
    while (!watcher.ended && sent < 4096) {
      watcher.deliver(event(`${sent + 1}-0`, 'processing', big));
      highest = Math.max(highest, res.writableLength);
      sent += 1;
    }
    expect(watcher.ended).toBe(true);
    expect(ends).toEqual(['cut-off']);
    // Cut at the first write past the bound: never more than the bound and one frame behind.
    expect(highest).toBeLessThanOrEqual(maxBacklogBytes + big.length + 64);
    expect(res.destroyed).toBe(true);
    client.resume();
    await closedByServer;
    watcher.deliver(event(`${sent + 1}-0`));
    expect(ends).toEqual(['cut-off']);
  });

  it('cuts off a client whose live events pile up past their bound while its history is sent', async () => {
    const { watcher, ends } = await watch({ maxPendingEvents: 3 });
    for (const id of ['5-0', '6-0', '7-0']) watcher.deliver(event(id));
    expect(ends).toEqual([]);
    watcher.deliver(event('8-0'));
    expect(ends).toEqual(['cut-off']);
    await watcher.start(pagesOf([event('1-0')])); // nothing more happens to an ended watcher
    expect(ends).toEqual(['cut-off']);
  });

  it('paces a long history by the socket rather than cutting it off at the backlog bound', async () => {
    const maxBacklogBytes = 16 * 1024;
    const { watcher, client, body, ends } = await watch({ maxBacklogBytes });
    client.pause();
    const big = 'y'.repeat(8 * 1024);
    const history = Array.from({ length: 600 }, (_, i) => event(`${i + 1}-0`, 'processing', big)); // ~5 MB
    const started = watcher.start(pagesOf(history));
    setTimeout(() => client.resume(), 50);
    await started;
    watcher.deliver(event('601-0', 'done'));
    await until(() => idsIn(body()).length === 601, 10_000, 'the whole history');
    expect(ends).toEqual(['completed']);
    expect(idsIn(body()).at(-1)).toBe('601-0');
  });

  it('reads the history a page at a time, the next only once the socket has drained: a client that stops reading holds one page', async () => {
    const { watcher, client, body, res, closedByServer } = await watch();
    client.pause();
    const frame = 16 * 1024;
    const history = Array.from({ length: 1000 }, (_, i) => event(`${i + 1}-0`, 'processing', 'h'.repeat(frame))); // ~16 MB
    const stored = storedHistory(history, 10);
    const started = watcher.start(stored.pages);
    // The socket fills and the watcher waits for it: no more pages are read meanwhile.
    await until(() => watcher.backlogSince !== 0, 5000, 'a full socket');
    const readsWhileStuck = stored.reads();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stored.reads()).toBe(readsWhileStuck);
    // What the kernel's socket buffers took, and at most one frame past the response's own mark.
    expect(readsWhileStuck).toBeLessThan(60);
    expect(res.writableLength).toBeLessThanOrEqual(res.writableHighWaterMark + frame + 64);
    client.resume();
    await started;
    watcher.deliver(event('1001-0', 'done'));
    await closedByServer;
    expect(idsIn(body())).toEqual([...history.map((sent) => sent.id), '1001-0']);
    // 100 full pages and the empty one that says the history is over.
    expect(stored.reads()).toBe(101);
  });

  it('knows since when its backlog has waited, until the socket drains (what SSE_WRITE_DEADLINE_MS is checked against)', async () => {
    const { watcher, client } = await watch({ maxBacklogBytes: 64 << 20 });
    await watcher.start(pagesOf([]));
    expect(watcher.backlogSince).toBe(0);
    client.pause();
    const before = Date.now();
    for (let i = 1; watcher.backlogSince === 0 && i < 10_000; i += 1) watcher.deliver(event(`${i}-0`, 'processing', 'z'.repeat(64 * 1024)));
    expect(watcher.backlogSince).toBeGreaterThanOrEqual(before);
    expect(watcher.backlogSince).toBeLessThanOrEqual(Date.now());
    client.resume();
    await until(() => watcher.backlogSince === 0, 5000, 'the drain');
  });

  it('cutOff drops a stuck client at once (the registry calls it past the deadline), reported once as "cut-off"', async () => {
    const { watcher, client, ends, closedByServer } = await watch();
    client.pause();
    const started = watcher.start(pagesOf(Array.from({ length: 400 }, (_, i) => event(`${i + 1}-0`, 'processing', 'c'.repeat(32 * 1024)))));
    await until(() => watcher.backlogSince !== 0, 5000, 'a full socket');
    watcher.cutOff();
    await started;
    client.resume();
    await closedByServer;
    expect(ends).toEqual(['cut-off']);
  });

  it('reports a client that goes away as "client-left", once', async () => {
    const { watcher, client, ends } = await watch();
    await watcher.start(pagesOf([event('1-0')]));
    client.destroy();
    await until(() => ends.length > 0, 2000, 'the end');
    watcher.deliver(event('2-0'));
    watcher.end('drained');
    expect(ends).toEqual(['client-left']);
  });

  it('ends when told to (a drain): reported with the reason given', async () => {
    const { watcher, ends, closedByServer } = await watch();
    await watcher.start(pagesOf([]));
    watcher.end('drained');
    await closedByServer;
    expect(ends).toEqual(['drained']);
  });
});
