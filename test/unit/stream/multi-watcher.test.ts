import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_START, parseStreamId } from '@herald/contract';
import { type FanoutEvent, toFanoutEvent } from '../../../apps/api/src/stream/fanout-event.ts';
import { MultiWatcher } from '../../../apps/api/src/stream/multi-watcher.ts';
import type { WatcherEnd } from '../../../apps/api/src/stream/watcher.ts';
import { pagesOf, storedHistory } from '../../support/history-pages.ts';
import { loopbackServer, until, type LoopbackServer } from '../../support/loopback-response.ts';

// One client following several jobs on one socket (MultiWatcher): a gate per job, the composite
// cursor in every `id:`, the end once every job has ended.

let server: LoopbackServer;
beforeAll(async () => {
  server = await loopbackServer();
});
afterAll(() => server.close());

const event = (job: string, id: string, status = 'processing'): FanoutEvent =>
  toFanoutEvent({ id, status, data: `{"jobId":"${job}","status":"${status}","n":"${id}"}` })!;
const frames = (body: string): { id: string; job: string; name?: string }[] =>
  [...body.matchAll(/(?:event: (\w+)\n)?id: (.+)\ndata: \{"jobId":"(\w+)"/g)].map((m) => ({
    id: m[2]!,
    job: m[3]!,
    ...(m[1] ? { name: m[1] } : {}),
  }));

async function watch(jobs: string[], typed = false) {
  const opened = await server.open();
  opened.res.useChunkedEncodingByDefault = false;
  opened.res.shouldKeepAlive = false;
  opened.res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  const ends: WatcherEnd[] = [];
  const watcher = new MultiWatcher(opened.res, jobs, { maxBacklogBytes: 1 << 20, maxPendingEvents: 1000, typed }, (how) => ends.push(how));
  return { ...opened, watcher, ends };
}

describe('MultiWatcher', () => {
  it('sends each job’s history then live events, each once, with every job’s position in the id', async () => {
    const { watcher, body } = await watch(['a', 'b']);
    watcher.sinks[1]!.deliver(event('b', '5-0')); // live, while the history is sent: held
    await watcher.start([], [pagesOf([event('a', '1-0'), event('a', '3-0')]), pagesOf([event('b', '2-0'), event('b', '5-0')])]);
    watcher.sinks[0]!.deliver(event('a', '3-0')); // a repeat: dropped by a's gate
    watcher.sinks[0]!.deliver(event('a', '4-0'));
    watcher.sinks[1]!.deliver(event('b', '4-0')); // before b's position: dropped
    await until(() => frames(body()).length === 5, 2000, 'five events');
    expect(frames(body())).toEqual([
      { id: '1-0,0-0', job: 'a' },
      { id: '3-0,0-0', job: 'a' },
      { id: '3-0,2-0', job: 'b' },
      { id: '3-0,5-0', job: 'b' },
      { id: '4-0,5-0', job: 'a' },
    ]);
  });

  it('starts each job at its own position, and ends only once every job has had its terminal event', async () => {
    const { watcher, body, ends } = await watch(['a', 'b'], true);
    watcher.begin(0, parseStreamId('2-0')!, false);
    watcher.begin(1, STREAM_START, false);
    await watcher.start([], [pagesOf([event('a', '1-0'), event('a', '3-0', 'done')]), pagesOf([])]);
    expect(ends).toEqual([]);
    watcher.sinks[0]!.deliver(event('a', '9-0')); // after a's end: nothing more of a
    watcher.sinks[1]!.deliver(event('b', '4-0', 'error'));
    await until(() => ends.length === 1 && frames(body()).length === 2, 2000, 'the end');
    expect(ends).toEqual(['completed']);
    expect(frames(body())).toEqual([
      { id: '3-0,0-0', job: 'a', name: 'done' },
      { id: '3-0,4-0', job: 'b', name: 'error' },
    ]);
  });

  it('ends at once when every job had ended before its cursor', async () => {
    const { watcher, ends, closedByServer } = await watch(['a']);
    watcher.begin(0, parseStreamId('7-0')!, true);
    await watcher.start([], [null]);
    await closedByServer;
    expect(ends).toEqual(['completed']);
  });

  it('reads each job’s history a page at a time as the client takes it; the next job’s only after', async () => {
    const { watcher, client, body, res, closedByServer } = await watch(['a', 'b']);
    client.pause();
    const big = (job: string, id: string, status = 'processing'): FanoutEvent =>
      toFanoutEvent({ id, status, data: `{"jobId":"${job}","status":"${status}","pad":"${'p'.repeat(16 * 1024)}"}` })!;
    const a = storedHistory(
      Array.from({ length: 1000 }, (_, i) => big('a', `${i + 1}-0`, i === 999 ? 'done' : 'processing')),
      10,
    );
    const b = storedHistory([big('b', '1-0'), big('b', '2-0', 'done')], 10);
    const started = watcher.start([], [a.pages, b.pages]);
    await until(() => watcher.backlogSince !== 0, 5000, 'a full socket');
    const readsWhileStuck = a.reads();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(a.reads()).toBe(readsWhileStuck);
    expect(readsWhileStuck).toBeLessThan(60);
    expect(b.reads()).toBe(0);
    expect(res.writableLength).toBeLessThanOrEqual(res.writableHighWaterMark + 17 * 1024);
    client.resume();
    await started;
    await closedByServer;
    expect(a.reads()).toBe(101);
    expect(b.reads()).toBe(1);
    const sent = frames(body());
    expect(sent).toHaveLength(1002);
    expect(sent.at(999)).toEqual({ id: '1000-0,0-0', job: 'a' });
    expect(sent.at(-1)).toEqual({ id: '1000-0,2-0', job: 'b' });
  });
});
