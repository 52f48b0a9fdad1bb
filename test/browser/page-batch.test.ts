import { describe, expect, it } from 'vitest';
import { request } from '../support/http.ts';
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
