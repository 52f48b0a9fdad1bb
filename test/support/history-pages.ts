import { compareStreamIds, parseStreamId } from '@herald/contract';
import type { FanoutEvent } from '../../apps/api/src/stream/fanout-event.ts';
import { HistoryPages } from '../../apps/api/src/stream/history-pages.ts';

/**
 * A stored history served as the hub serves it (a page of at most `pageSize` events after an
 * id, and where the next starts), counting its reads: what a watcher catches up on in unit tests.
 */
export function storedHistory(
  events: readonly FanoutEvent[],
  pageSize = 100,
  afterId: string | null = null,
  gapAfter: (afterId: string) => Promise<boolean> = async () => false,
) {
  let reads = 0;
  const pages = new HistoryPages(
    async (after) => {
      reads += 1;
      const from = after === null ? null : parseStreamId(after)!;
      const page = events.filter((event) => from === null || compareStreamIds(event.position, from) > 0).slice(0, pageSize);
      return {
        events: page.map(({ id, status, data }) => ({ id, status, data })),
        next: page.length < pageSize ? null : page.at(-1)!.id,
      };
    },
    afterId,
    gapAfter,
  );
  return { pages, reads: () => reads };
}

/** The history as one argument to a watcher's `start`. */
export const pagesOf = (events: readonly FanoutEvent[], pageSize = 100): HistoryPages => storedHistory(events, pageSize).pages;
