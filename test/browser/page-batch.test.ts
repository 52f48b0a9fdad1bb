import { createParser } from 'eventsource-parser';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { EventReader, topics } from '@herald/shared';
import { WHOLE_HISTORY } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { connectTestRedis } from '../support/redis-target.ts';
import { findServingReplica } from '../support/stack.ts';
import { BEES } from '../support/texts.ts';
import { canRunBrowserTests, inPage, sel, setUpPageTests } from './support.ts';

const JOBS = 20;
const texts = Array.from({ length: JOBS }, (_, i) => `${BEES} This is text number ${i + 1}.`);

/** Every job row's status and bar, as the page shows them. */
const rows = (page: import('playwright-core').Page) =>
  page.$$eval(`${sel('batch-jobs')} li`, (items) =>
    items.map((li) => ({
      jobId: li.dataset.jobId ?? '',
      status: li.dataset.status ?? '',
      value: li.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow'),
    })),
  );

interface ReceivedStream {
  readonly url: string;
  /** The protocol Chromium got the response over (`h2`, `http/1.1`). */
  protocol: string;
  /** What arrived before its bytes were streamed to us, then every later piece. */
  buffered: string;
  readonly later: string[];
}

/**
 * Every event-stream response the page gets from now on, as Chromium received it: its protocol
 * and its bytes (the DevTools protocol's Network domain; the page's client reads its streams with
 * fetch, so there are no EventSource messages to watch).
 */
async function recordStreams(page: Page): Promise<() => ReceivedStream[]> {
  const session = await page.context().newCDPSession(page);
  // Network.streamResourceContent (Chromium ≥ 124) is newer than playwright's protocol types.
  const send = session.send.bind(session) as unknown as (method: string, params?: object) => Promise<Record<string, any>>;
  const streams = new Map<string, ReceivedStream>();
  session.on('Network.responseReceived', ({ requestId, response }) => {
    if (!/\/v1\/(jobs|batches)\/[^/]+\/events/.test(response.url)) return;
    const stream: ReceivedStream = { url: response.url, protocol: response.protocol ?? '', buffered: '', later: [] };
    streams.set(requestId, stream);
    void send('Network.streamResourceContent', { requestId }).then(
      ({ bufferedData }) => {
        stream.buffered = Buffer.from(String(bufferedData), 'base64').toString('latin1');
      },
      () => {}, // gone already: what it carried is missing, and the comparison below says so
    );
  });
  session.on('Network.dataReceived', ({ requestId, data }) => {
    const stream = streams.get(requestId);
    if (stream && data) stream.later.push(Buffer.from(data, 'base64').toString('latin1'));
  });
  await send('Network.enable');
  return () => [...streams.values()];
}

/** The complete events of one response's bytes, in order: each one's id and data. */
function eventsOf(stream: ReceivedStream): { id: string | undefined; data: string }[] {
  const events: { id: string | undefined; data: string }[] = [];
  const parser = createParser({ onEvent: (event) => events.push({ id: event.id, data: event.data }) });
  parser.feed(Buffer.from(stream.buffered + stream.later.join(''), 'latin1').toString('utf8'));
  return events;
}

describe.skipIf(!canRunBrowserTests)('the page’s batch view, in chromium, through nginx over HTTP/2', () => {
  const tests = setUpPageTests({
    // Slow enough that the replica serving the batch's stream can be killed mid-batch.
    STAGE_DELAY_MS: '300',
    WORKER_CONCURRENCY: '3',
    SSE_RETRY_MS: '500',
  });

  it('watches a batch of 20 on one connection: every bar and the overall one reach their end, across a killed replica', async () => {
    const { page, streamRequests, problems } = await tests.open('/', { tls: true });
    expect(await inPage(page, "performance.getEntriesByType('navigation')[0].nextHopProtocol")).toBe('h2');
    const received = await recordStreams(page);
    await page.click(`${sel('batch-box')} summary`);
    await page.fill(sel('batch-texts'), texts.join('\n\n'));
    await expect(page.textContent(sel('batch-count'))).resolves.toBe(String(JOBS));
    await page.click(sel('batch-submit'));
    await page.waitForURL(/\/batches\/[^/]+$/, { waitUntil: 'commit' }).catch(async (error: unknown) => {
      throw new Error(
        `no batch page; the page says: ${await page.textContent(sel('problem'))}; busy ${await page.getAttribute(sel('batch-submit'), 'aria-busy')}; problems ${problems.join(' | ')}; url ${page.url()} (${String(error)})`,
      );
    });
    const batchId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    await expect.poll(async () => (await rows(page)).length, { timeout: 10_000 }).toBe(JOBS);

    // Midway: some texts done, the overall bar moving; the replica holding the stream dies.
    await expect
      .poll(async () => Number(await page.getAttribute(sel('batch-progress'), 'aria-valuenow')), { timeout: 20_000 })
      .toBeGreaterThan(10);
    const serving = await findServingReplica(tests.stack);
    expect(await page.getAttribute(sel('batch'), 'data-status')).toBe('processing');
    await serving.kill();
    try {
      await expect.poll(() => page.getAttribute(sel('batch'), 'data-status'), { timeout: 60_000 }).toBe('done');
      const shown = await rows(page);
      expect(shown.map((row) => [row.status, row.value])).toEqual(Array.from({ length: JOBS }, () => ['done', '100']));
      await expect(page.getAttribute(sel('batch-progress'), 'aria-valuenow')).resolves.toBe('100');
      await expect(page.textContent(sel('batch-counts'))).resolves.toMatch(new RegExp(`^${JOBS} done`));
      // One stream for the whole batch, reopened by the browser itself after the kill.
      const batchStreams = streamRequests.filter((url) => url.includes(`/v1/batches/${batchId}/events`));
      expect(batchStreams.length).toBeGreaterThanOrEqual(2);
      expect(streamRequests.filter((url) => url.includes('/v1/jobs/'))).toEqual([]);
      const snapshot = await request(`${tests.stack.url}/v1/batches/${batchId}`);
      expect(snapshot.body).toMatchObject({ status: 'done', progress: 100, counts: { done: JOBS } });
      expect(shown.map((row) => row.jobId)).toEqual(snapshot.body.jobs.map((job: { jobId: string }) => job.jobId));
      // Every stream came over HTTP/2 too, and together they carried the batch's stored history
      // exactly: every event once, in order, none lost at the kill.
      const streams = received().filter((stream) => stream.url.includes(`/v1/batches/${batchId}/events`));
      expect(streams.length).toBe(batchStreams.length);
      expect(streams.map((stream) => stream.protocol)).toEqual(streams.map(() => 'h2'));
      const events = streams.flatMap(eventsOf);
      const redis = connectTestRedis();
      try {
        const stored = await new EventReader(redis).eventsAfter(topics.batch(batchId), null, WHOLE_HISTORY);
        expect(stored.length).toBeGreaterThan(JOBS);
        expect(events.map((event) => event.id)).toEqual(stored.map((event) => event.id));
        expect(events.map((event) => event.data)).toEqual(stored.map((event) => event.data));
      } finally {
        redis.disconnect();
      }
      expect(problems).toEqual([]);
    } finally {
      await serving.start();
    }

    // Any job opens from its row, on its own page.
    await page.click(`${sel('batch-jobs')} li:nth-child(3) a`);
    await page.waitForURL(/\/jobs\/[^/]+~2$/);
    await expect.poll(() => page.getAttribute(sel('job'), 'data-status'), { timeout: 10_000 }).toBe('done');
  }, 120_000);
});
