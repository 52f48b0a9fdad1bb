import { parseStreamId } from '@herald/contract';
import { describe, expect, it } from 'vitest';
import { FanoutEvent } from '../../../apps/api/src/stream/fanout-event.ts';
import { storedHistory } from '../../support/history-pages.ts';

const event = (id: string): FanoutEvent => new FanoutEvent(id, parseStreamId(id)!, 'processing', `{"n":"${id}"}`);

describe('HistoryPages', () => {
  it('sends every page in order, reading the next only once the last is sent', async () => {
    const { pages, reads } = storedHistory([event('1-0'), event('2-0'), event('3-0'), event('4-0'), event('5-0')], 2);
    const sent: string[] = [];
    const complete = await pages.sendAll(
      async (e) => {
        sent.push(e.id);
        // Pages are read as they are needed: after sending 2 events, only the first page was read.
        if (sent.length === 2) expect(reads()).toBe(1);
        return true;
      },
      () => expect.unreachable('no gap here'),
    );
    expect({ complete, sent, reads: reads() }).toEqual({ complete: true, sent: ['1-0', '2-0', '3-0', '4-0', '5-0'], reads: 3 });
  });

  it('cuts the stream off rather than skip what was trimmed between two pages (the client resyncs from its cursor)', async () => {
    const checked: string[] = [];
    // The Stream lost entries after 2-0 while the first page was being sent.
    const { pages } = storedHistory([event('1-0'), event('2-0'), event('3-0'), event('4-0')], 2, null, async (after) => {
      checked.push(after);
      return after === '2-0';
    });
    const sent: string[] = [];
    let cutOff = 0;
    const complete = await pages.sendAll(
      async (e) => {
        sent.push(e.id);
        return true;
      },
      () => {
        cutOff += 1;
      },
    );
    expect({ complete, sent, cutOff, checked }).toEqual({ complete: false, sent: ['1-0', '2-0'], cutOff: 1, checked: ['2-0'] });
  });
});
