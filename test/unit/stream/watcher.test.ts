import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_START, parseStreamId, type StreamId } from '@herald/contract';
import { ResponseConnection } from '../../../apps/api/src/stream/connection.ts';
import { toFanoutEvent, type FanoutEvent } from '../../../apps/api/src/stream/fanout-event.ts';
import type { HistoryPages } from '../../../apps/api/src/stream/history-pages.ts';
import { Watcher } from '../../../apps/api/src/stream/watcher.ts';
import type { WatcherEnd, WatcherLimits } from '../../../apps/api/src/stream/watcher-limits.ts';
import { pagesOf, storedHistory } from '../../support/history-pages.ts';
import { loopbackServer, until, type LoopbackResponse, type LoopbackServer } from '../../support/loopback-response.ts';

// One SSE client (Watcher) on a real loopback socket, following one topic (a job's or a batch's
// stream) or several (`?jobs=`: a gate per topic, the composite cursor in every `id:`): its
// gates, its bounds, its ends. Every case below runs for both; what only several topics have
// follows them.

let server: LoopbackServer;
beforeAll(async () => {
  server = await loopbackServer();
});
afterAll(() => server.close());

const TOPICS = ['a', 'b', 'c'];

/** An event of topic `job`; its JSON names the topic and the id, so what was sent reads back whatever the `id:` line. */
const event = (id: string, status = 'processing', pad = '', job = 'a'): FanoutEvent =>
  toFanoutEvent({ id, status, data: `{"jobId":"${job}","id":"${id}","status":"${status}"${pad && `,"pad":"${pad}"`}}` })!;

interface Frame {
  readonly cursor: string;
  readonly job: string;
  readonly id: string;
  readonly name?: string;
}
const framesIn = (body: string): Frame[] =>
  [...body.matchAll(/^(?:event: (\w+)\n)?id: (\S+)\ndata: \{"jobId":"(\w)","id":"([\d-]+)"/gm)].map((m) => ({
    cursor: m[2]!,
    job: m[3]!,
    id: m[4]!,
    ...(m[1] ? { name: m[1] } : {}),
  }));
const idsIn = (body: string): string[] => framesIn(body).map((frame) => frame.id);

interface Watched extends LoopbackResponse {
  readonly watcher: Watcher;
  readonly ends: WatcherEnd[];
}

function startStream(res: ServerResponse): void {
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
}

/** A watcher of `topics` on a fresh response whose head is sent, as the stream route sends it. */
async function watchTopics(topics: readonly string[], limits: Partial<WatcherLimits> = {}): Promise<Watched> {
  const opened = await server.open();
  const ends: WatcherEnd[] = [];
  startStream(opened.res);
  const full = { maxBacklogBytes: 1 << 20, maxPendingEvents: 1000, composite: topics.length > 1, ...limits };
  const watcher = new Watcher(new ResponseConnection(opened.res), topics, full, (_watcher, how) => ends.push(how));
  return { ...opened, watcher, ends };
}

describe.each([
  { topics: 1, cursorOf: (id: string) => id },
  // Topic a is the one under test; b and c had ended before the client's cursor (at 0-0).
  { topics: 3, cursorOf: (id: string) => `${id},0-0,0-0` },
])('Watcher of $topics topic(s)', ({ topics, cursorOf }) => {
  async function watch(limits: Partial<WatcherLimits> = {}, position: StreamId = STREAM_START): Promise<Watched> {
    const watched = await watchTopics(TOPICS.slice(0, topics), limits);
    for (const [i, gate] of watched.watcher.gates.entries()) watched.watcher.begin(gate, i === 0 ? position : STREAM_START, i > 0);
    return watched;
  }
  /** Topic a's history; the others are done. */
  const histories = (pages: HistoryPages): (HistoryPages | null)[] => [pages, ...Array<null>(topics - 1).fill(null)];
  const start = (watcher: Watcher, history: readonly FanoutEvent[]) => watcher.start([], histories(pagesOf(history)));
  /** Topic a's live events, through its gate: what the hub holds. */
  const live = (watcher: Watcher, delivered: FanoutEvent) => watcher.first.deliver(delivered);
  const expectIds = (body: string, ids: string[]) => {
    expect(idsIn(body)).toEqual(ids);
    expect(framesIn(body).map((frame) => frame.cursor)).toEqual(ids.map(cursorOf));
  };

  it('sends the history, then what arrived meanwhile, then live events: each once, in id order', async () => {
    const { watcher, body } = await watch();
    live(watcher, event('3-0')); // live, while the history is still being read: held
    live(watcher, event('4-0'));
    await start(watcher, [event('1-0'), event('2-0'), event('3-0')]);
    live(watcher, event('5-0'));
    await until(() => idsIn(body()).length === 5, 2000, 'five events');
    expectIds(body(), ['1-0', '2-0', '3-0', '4-0', '5-0']);
  });

  it('passes only events after the last one it sent: a resync re-read or a repeat is dropped', async () => {
    const { watcher, body } = await watch({}, parseStreamId('2-0')!);
    await start(watcher, [event('1-0'), event('2-0'), event('3-0')]);
    for (const id of ['2-0', '3-0', '10-0', '9-0', '10-0', '10-1']) live(watcher, event(id));
    await until(() => idsIn(body()).includes('10-1'), 2000, 'the last event');
    expectIds(body(), ['3-0', '10-0', '10-1']);
    expect(watcher.first.position).toEqual({ ms: 10, seq: 1 });
  });

  it('sends its opening resync first, positioned, then the history after it', async () => {
    const { watcher, body } = await watch({}, parseStreamId('5-0')!);
    await watcher.start([event('5-0', 'resync')], histories(pagesOf([event('4-0'), event('6-0')])));
    await until(() => idsIn(body()).length === 2, 2000, 'two events');
    expectIds(body(), ['5-0', '6-0']);
  });

  it('ends the stream after the terminal event, reports "completed" once, and sends nothing after it', async () => {
    const { watcher, body, ends, closedByServer } = await watch();
    await start(watcher, [event('1-0')]);
    live(watcher, event('2-0', 'done'));
    live(watcher, event('3-0'));
    watcher.writeRaw(Buffer.from(':\n\n'));
    await closedByServer;
    expectIds(body(), ['1-0', '2-0']);
    expect(body().endsWith('\n\n')).toBe(true);
    expect(ends).toEqual(['completed']);
    expect(watcher.ended).toBe(true);
  });

  it('with a pacer, sends the terminal event at once and leaves the end to it, writing nothing meanwhile', async () => {
    const pending: (() => void)[] = [];
    const { watcher, body, ends, closedByServer } = await watch({ endFinished: (end) => pending.push(end) });
    await start(watcher, []);
    live(watcher, event('1-0', 'done'));
    await until(() => idsIn(body()).includes('1-0'), 2000, 'the terminal event');
    live(watcher, event('2-0'));
    watcher.writeRaw(Buffer.from(':\n\n'));
    expect(watcher.finished).toBe(true);
    expect(watcher.ended).toBe(false);
    expect(pending).toHaveLength(1);
    pending[0]!();
    await closedByServer;
    expect(body()).not.toContain(':\n\n');
    expectIds(body(), ['1-0']);
    expect(ends).toEqual(['completed']);
  });

  it('ends on a terminal event found in the history, before going live', async () => {
    const { watcher, body, ends, closedByServer } = await watch();
    live(watcher, event('3-0'));
    await start(watcher, [event('1-0'), event('2-0', 'cancelled')]);
    await closedByServer;
    expectIds(body(), ['1-0', '2-0']);
    expect(ends).toEqual(['completed']);
  });

  it('ends when its topic ends even when its cursor is past the terminal event (one from the future)', async () => {
    const { watcher, body, ends, closedByServer } = await watch({}, parseStreamId('9999999999999-0')!);
    await start(watcher, []);
    live(watcher, event('5-0'));
    live(watcher, event('6-0', 'error'));
    await closedByServer;
    expectIds(body(), []);
    expect(ends).toEqual(['completed']);
  });

  it('cuts off a client that stops reading once its unsent backlog passes the bound, and says so once', async () => {
    const maxBacklogBytes = 64 * 1024;
    const { watcher, client, ends, res, closedByServer } = await watch({ maxBacklogBytes });
    client.pause();
    await start(watcher, []);
    const big = 'x'.repeat(16 * 1024);
    let sent = 0;
    let highest = 0;
    // Far more than the socket buffers hold: the backlog must build up in the response.
    while (!watcher.ended && sent < 4096) {
      live(watcher, event(`${sent + 1}-0`, 'processing', big));
      highest = Math.max(highest, res.writableLength);
      sent += 1;
    }
    expect(watcher.ended).toBe(true);
    expect(ends).toEqual(['cut-off']);
    // Cut at the first write past the bound: never more than the bound and one frame behind.
    expect(highest).toBeLessThanOrEqual(maxBacklogBytes + big.length + 128);
    expect(res.destroyed).toBe(true);
    client.resume();
    await closedByServer;
    live(watcher, event(`${sent + 1}-0`));
    expect(ends).toEqual(['cut-off']);
  });

  it('cuts off a client whose live events pile up past their bound while its history is sent', async () => {
    const { watcher, ends } = await watch({ maxPendingEvents: 3 });
    for (const id of ['5-0', '6-0', '7-0']) live(watcher, event(id));
    expect(ends).toEqual([]);
    live(watcher, event('8-0'));
    expect(ends).toEqual(['cut-off']);
    await start(watcher, [event('1-0')]); // nothing more happens to an ended watcher
    expect(ends).toEqual(['cut-off']);
  });

  it('paces a long history by the socket rather than cutting it off at the backlog bound', async () => {
    const maxBacklogBytes = 16 * 1024;
    const { watcher, client, body, ends } = await watch({ maxBacklogBytes });
    client.pause();
    const big = 'y'.repeat(8 * 1024);
    const history = Array.from({ length: 600 }, (_, i) => event(`${i + 1}-0`, 'processing', big)); // ~5 MB
    const started = start(watcher, history);
    setTimeout(() => client.resume(), 50);
    await started;
    live(watcher, event('601-0', 'done'));
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
    const started = watcher.start([], histories(stored.pages));
    // The socket fills and the watcher waits for it: no more pages are read meanwhile.
    await until(() => watcher.backlogSince !== 0, 5000, 'a full socket');
    const readsWhileStuck = stored.reads();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stored.reads()).toBe(readsWhileStuck);
    // What the kernel's socket buffers took, and at most one frame past the response's own mark.
    expect(readsWhileStuck).toBeLessThan(60);
    expect(res.writableLength).toBeLessThanOrEqual(res.writableHighWaterMark + frame + 128);
    client.resume();
    await started;
    live(watcher, event('1001-0', 'done'));
    await closedByServer;
    expect(idsIn(body())).toEqual([...history.map((sent) => sent.id), '1001-0']);
    // 100 full pages and the empty one that says the history is over.
    expect(stored.reads()).toBe(101);
  });

  it('knows since when its backlog has waited, until the socket drains (what SSE_WRITE_DEADLINE_MS is checked against)', async () => {
    const { watcher, client } = await watch({ maxBacklogBytes: 64 << 20 });
    await start(watcher, []);
    expect(watcher.backlogSince).toBe(0);
    client.pause();
    const before = Date.now();
    for (let i = 1; watcher.backlogSince === 0 && i < 10_000; i += 1) live(watcher, event(`${i}-0`, 'processing', 'z'.repeat(64 * 1024)));
    expect(watcher.backlogSince).toBeGreaterThanOrEqual(before);
    expect(watcher.backlogSince).toBeLessThanOrEqual(Date.now());
    client.resume();
    await until(() => watcher.backlogSince === 0, 5000, 'the drain');
  });

  it('cutOff drops a stuck client at once (the registry calls it past the deadline), reported once as "cut-off"', async () => {
    const { watcher, client, ends, closedByServer } = await watch();
    client.pause();
    const started = start(
      watcher,
      Array.from({ length: 400 }, (_, i) => event(`${i + 1}-0`, 'processing', 'c'.repeat(32 * 1024))),
    );
    await until(() => watcher.backlogSince !== 0, 5000, 'a full socket');
    watcher.cutOff();
    await started;
    client.resume();
    await closedByServer;
    expect(ends).toEqual(['cut-off']);
  });

  it('reports a client that goes away as "client-left", once', async () => {
    const { watcher, client, ends } = await watch();
    await start(watcher, [event('1-0')]);
    client.destroy();
    await until(() => ends.length > 0, 2000, 'the end');
    live(watcher, event('2-0'));
    watcher.end('drained');
    expect(ends).toEqual(['client-left']);
  });

  it('ends when told to (a drain): reported with the reason given', async () => {
    const { watcher, ends, closedByServer } = await watch();
    await start(watcher, []);
    watcher.end('drained');
    await closedByServer;
    expect(ends).toEqual(['drained']);
  });
});

describe('Watcher of several topics (?jobs=)', () => {
  const of =
    (job: string) =>
    (id: string, status = 'processing', pad = '') =>
      event(id, status, pad, job);
  const a = of('a');
  const b = of('b');
  const sent = (body: string) => framesIn(body).map(({ cursor, job, name }) => ({ cursor, job, ...(name ? { name } : {}) }));

  it('sends each topic’s history then live events, each once, with every topic’s position in the id', async () => {
    const { watcher, body } = await watchTopics(['a', 'b']);
    const [gateA, gateB] = watcher.gates;
    gateB!.deliver(b('5-0')); // live, while the history is sent: held
    await watcher.start([], [pagesOf([a('1-0'), a('3-0')]), pagesOf([b('2-0'), b('5-0')])]);
    gateA!.deliver(a('3-0')); // a repeat: dropped by a's gate
    gateA!.deliver(a('4-0'));
    gateB!.deliver(b('4-0')); // before b's position: dropped
    await until(() => framesIn(body()).length === 5, 2000, 'five events');
    expect(sent(body())).toEqual([
      { cursor: '1-0,0-0', job: 'a' },
      { cursor: '3-0,0-0', job: 'a' },
      { cursor: '3-0,2-0', job: 'b' },
      { cursor: '3-0,5-0', job: 'b' },
      { cursor: '4-0,5-0', job: 'a' },
    ]);
  });

  it('starts each topic at its own position, and ends only once every topic has had its terminal event', async () => {
    const { watcher, body, ends } = await watchTopics(['a', 'b'], { typed: true });
    const [gateA, gateB] = watcher.gates;
    watcher.begin(gateA!, parseStreamId('2-0')!, false);
    watcher.begin(gateB!, STREAM_START, false);
    await watcher.start([], [pagesOf([a('1-0'), a('3-0', 'done')]), pagesOf([])]);
    expect(ends).toEqual([]);
    expect(watcher.finished).toBe(false);
    gateA!.deliver(a('9-0')); // after a's end: nothing more of a
    gateB!.deliver(b('4-0', 'error'));
    await until(() => ends.length === 1 && framesIn(body()).length === 2, 2000, 'the end');
    expect(ends).toEqual(['completed']);
    expect(sent(body())).toEqual([
      { cursor: '3-0,0-0', job: 'a', name: 'done' },
      { cursor: '3-0,4-0', job: 'b', name: 'error' },
    ]);
  });

  it('leaves the end to the pacer once the last topic’s terminal event went out live, whichever topic it is', async () => {
    const pending: (() => void)[] = [];
    const { watcher, body, ends, closedByServer } = await watchTopics(['a', 'b'], { endFinished: (end) => pending.push(end) });
    const [gateA, gateB] = watcher.gates;
    await watcher.start([], [pagesOf([]), pagesOf([])]);
    gateB!.deliver(b('1-0', 'done'));
    expect(pending).toHaveLength(0); // a is still going
    gateA!.deliver(a('2-0', 'done'));
    await until(() => framesIn(body()).length === 2, 2000, 'both terminal events');
    expect(watcher.finished).toBe(true);
    expect(pending).toHaveLength(1);
    expect(ends).toEqual([]);
    pending[0]!();
    await closedByServer;
    expect(ends).toEqual(['completed']);
  });

  it('ends at once when every topic had ended before its cursor', async () => {
    const { watcher, ends, closedByServer } = await watchTopics(['a']);
    watcher.begin(watcher.first, parseStreamId('7-0')!, true);
    await watcher.start([], [null]);
    await closedByServer;
    expect(ends).toEqual(['completed']);
  });

  it('reads each topic’s history a page at a time as the client takes it; the next topic’s only after', async () => {
    const { watcher, client, body, res, closedByServer } = await watchTopics(['a', 'b']);
    client.pause();
    const pad = 'p'.repeat(16 * 1024);
    const historyA = storedHistory(
      Array.from({ length: 1000 }, (_, i) => a(`${i + 1}-0`, i === 999 ? 'done' : 'processing', pad)),
      10,
    );
    const historyB = storedHistory([b('1-0', 'processing', pad), b('2-0', 'done', pad)], 10);
    const started = watcher.start([], [historyA.pages, historyB.pages]);
    await until(() => watcher.backlogSince !== 0, 5000, 'a full socket');
    const readsWhileStuck = historyA.reads();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(historyA.reads()).toBe(readsWhileStuck);
    expect(readsWhileStuck).toBeLessThan(60);
    expect(historyB.reads()).toBe(0);
    expect(res.writableLength).toBeLessThanOrEqual(res.writableHighWaterMark + 17 * 1024);
    client.resume();
    await started;
    await closedByServer;
    expect(historyA.reads()).toBe(101);
    expect(historyB.reads()).toBe(1);
    const frames = sent(body());
    expect(frames).toHaveLength(1002);
    expect(frames.at(999)).toEqual({ cursor: '1000-0,0-0', job: 'a' });
    expect(frames.at(-1)).toEqual({ cursor: '1000-0,2-0', job: 'b' });
  });
});
