import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventReader, topics } from '@herald/shared';
import { foldPartial, type JobEvent } from '@herald/contract';
import { buildExample } from '../../examples/react-progress/build.ts';
import { WHOLE_HISTORY } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { connectTestRedis } from '../support/redis-target.ts';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.ts';
import { findServingReplica } from '../support/stack.ts';
import { canRunBrowserTests, inPage, sel, setUpPageTests } from './support.ts';

// @herald/react's hooks in Chromium, in the example app (examples/react-progress, a development
// build with StrictMode on), through nginx in front of real replicas: a job and a batch of 10
// rendered to their end across a SIGKILLed replica. What the page showed is checked against the
// stored history, and its stream requests are counted in the page itself: fetch is wrapped
// before the app loads, a stream counted open from its request until its attempt's signal is
// aborted (the client aborts it whenever an attempt ends, and the hook when it lets go).

/** Counts the page's open event streams, per hook kind, synchronously with the page's own code. */
const COUNT_STREAMS = `(() => {
  const realFetch = window.fetch.bind(window);
  const streams = { job: { open: 0, max: 0, urls: [] }, batch: { open: 0, max: 0, urls: [] }, list: { open: 0, max: 0, urls: [] } };
  window.heraldStreams = streams;
  window.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const kind = /\\/v1\\/batches\\/[^/]+\\/events/.test(url) ? 'batch' : /\\/v1\\/jobs\\/[^/]+\\/events/.test(url) ? 'job' : /\\/v1\\/events\\?/.test(url) ? 'list' : null;
    if (kind === null) return realFetch(input, init);
    const count = streams[kind];
    count.open += 1;
    count.max = Math.max(count.max, count.open);
    count.urls.push(url);
    let closed = false;
    const close = () => { if (!closed) { closed = true; count.open -= 1; } };
    const signal = init && init.signal;
    if (signal) { if (signal.aborted) close(); else signal.addEventListener('abort', close, { once: true }); }
    return realFetch(input, init).catch((error) => { close(); throw error; });
  };
})();`;

const WORDS = 'Bees live in colonies, collect nectar from flowers, and turn it into honey that feeds the whole hive in winter.'.split(
  /(?<= )/,
);

interface StreamCount {
  open: number;
  max: number;
  urls: string[];
}
type Render = Record<string, any> & { view: string };

const streamsOf = (page: Page) => inPage<{ job: StreamCount; batch: StreamCount; list: StreamCount }>(page, 'window.heraldStreams');
const rendersOf = (page: Page) => inPage<Render[]>(page, 'window.heraldRenders ?? []');

/** A job's stored history, and its state after each event as a hook must show it (by event id). */
async function historyOf(topic: string) {
  const redis = connectTestRedis();
  try {
    const stored = await new EventReader(redis).eventsAfter(topic, null, WHOLE_HISTORY);
    return stored.map((event) => ({ id: event.id, data: JSON.parse(event.data) as Record<string, any> }));
  } finally {
    redis.disconnect();
  }
}

function foldedStates(history: { id: string; data: Record<string, any> }[]) {
  const states = new Map<string, { index: number; status: string; progress: number; stage: string | null; partial: string }>();
  let partial = '';
  let stage: string | null = null;
  history.forEach(({ id, data }, index) => {
    // The hook's rule: the text is every delta folded, and the result once done.
    partial = data.status === 'done' ? data.result : foldPartial(partial, data as JobEvent);
    stage = data.stage ?? stage;
    states.set(id, { index, status: data.status, progress: data.progress, stage, partial });
  });
  return states;
}

/** The connection states a view went through, repeats collapsed. */
const connections = (renders: Render[]): string[] =>
  renders.map((render) => render.connection as string).filter((connection, i, all) => i === 0 || all[i - 1] !== connection);

describe.skipIf(!canRunBrowserTests)('@herald/react in chromium (the example app, StrictMode on), through nginx', () => {
  // A model writes every summary (test/support/fake-openai.ts), word by word: the answer is
  // shown as it is written, and the kill lands mid-answer.
  let fake: FakeOpenAI | undefined;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    fake.fallback = () => ({ kind: 'answer', pieces: WORDS, delayMs: 150 });
  });
  afterAll(() => fake?.close());
  const tests = setUpPageTests(() => ({
    SUMMARIZER: 'openai',
    OPENAI_BASE_URL: fake!.baseUrl,
    OPENAI_MODEL: 'test-model',
    STREAM_FLUSH_MS: '100',
    WORKER_CONCURRENCY: '5',
    SSE_RETRY_MS: '300',
  }));
  const dist = mkdtempSync(join(tmpdir(), 'herald-react-example-'));
  beforeAll(() => buildExample({ outdir: dist }), 30_000);
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  /** The example app, served from its build at /react-progress/ on nginx's origin (so it calls Herald there). */
  async function openApp() {
    const opened = await tests.open('/');
    const { page } = opened;
    await page.addInitScript(COUNT_STREAMS);
    /** Each stream request as Chromium sent it: its URL and the cursor it resumed from (none: from the start). */
    const sent: { url: string; cursor: string | undefined }[] = [];
    page.on('request', (req) => {
      if (/\/v1\/((jobs|batches)\/[^/]+\/)?events/.test(req.url())) sent.push({ url: req.url(), cursor: req.headers()['last-event-id'] });
    });
    await page.route(`${tests.stack.url}/react-progress/**`, (route) => {
      const name = new URL(route.request().url()).pathname.replace('/react-progress/', '') || 'index.html';
      const type = name.endsWith('.js') ? 'text/javascript' : 'text/html';
      return route.fulfill({
        status: 200,
        contentType: type,
        body: readFileSync(join(dist, name.endsWith('.js') ? 'app.js' : 'index.html')),
      });
    });
    await page.goto(`${tests.stack.url}/react-progress/`);
    // StrictMode is on, in React's development build: the app's effects ran twice on mount.
    await expect.poll(async () => (await rendersOf(page)).filter((render) => render.view === 'app-mount').length).toBe(2);
    return { ...opened, sent };
  }

  /** The requests for `path`'s stream that started from the beginning (no Last-Event-ID). */
  const fromTheStart = (sent: { url: string; cursor: string | undefined }[], path: string) =>
    sent.filter((request) => request.url.includes(path) && request.cursor === undefined).length;

  it('useJob: a new id closes the old stream; the job renders to its end across a killed replica, every state shown as stored', async () => {
    const { page, streamRequests, problems, sent } = await openApp();
    await page.fill(sel('text'), 'Bees live in colonies. Worker bees collect nectar. This one is replaced at once.');
    await page.click(sel('submit'));
    await page.waitForSelector(`${sel('job')}[data-connection="live"]`, { timeout: 10_000 });
    const first = await page.getAttribute(sel('job'), 'data-job-id');

    // A second text: the same view, a new id. The first job's stream is let go before the next opens.
    await page.fill(
      sel('text'),
      'Bees live in colonies. Worker bees collect nectar. Bees turn nectar into honey. A hive can hold fifty thousand bees.',
    );
    await page.click(sel('submit'));
    await page.waitForSelector(`${sel('job')}:not([data-job-id="${first}"])`, { timeout: 10_000 });
    const jobId = (await page.getAttribute(sel('job'), 'data-job-id'))!;
    // Mid-answer: part of the text shown.
    await page.waitForSelector(`${sel('job')} ${sel('partial')}:not(:empty)`, { timeout: 10_000 });

    const serving = await findServingReplica(tests.stack);
    expect(await page.getAttribute(sel('job'), 'data-status')).toBe('processing');
    await serving.kill();
    try {
      await page.waitForSelector(`${sel('job')}[data-status="done"][data-connection="ended"]`, { timeout: 30_000 });
    } finally {
      await serving.start();
    }

    const history = await historyOf(jobId);
    const last = history.at(-1)!.data;
    expect(last.status).toBe('done');
    // What the page shows now: the stored result, the bar full.
    await expect(page.textContent(`${sel('job')} ${sel('result')}`)).resolves.toBe(last.result);
    await expect(page.getAttribute(sel('job-progress'), 'aria-valuenow')).resolves.toBe('100');
    await expect(page.textContent(sel('job-stage'))).resolves.toBe('done');

    // Every state it rendered on the way is the stored history folded up to the event it names, in order.
    const renders = (await rendersOf(page)).filter((render) => render.view === 'job' && render.jobId === jobId);
    const states = foldedStates(history);
    const shown = renders.filter((render) => render.lastEventId !== null);
    expect(shown.length).toBeGreaterThan(3);
    let previous = -1;
    for (const render of shown) {
      const state = states.get(render.lastEventId);
      expect(state, `rendered event ${render.lastEventId} is not in the job's history`).toBeDefined();
      expect({ status: render.status, progress: render.progress, stage: render.stage, partial: render.partial }).toEqual({
        status: state!.status,
        progress: state!.progress,
        stage: state!.stage,
        partial: state!.partial,
      });
      expect(state!.index).toBeGreaterThanOrEqual(previous);
      previous = state!.index;
    }
    // The answer was shown as it was written: part of it, before the result.
    expect(
      shown.some((render) => render.status === 'processing' && render.partial.length > 0 && render.partial.length < last.result.length),
    ).toBe(true);
    expect(shown.at(-1)).toMatchObject({
      lastEventId: history.at(-1)!.id,
      status: 'done',
      result: last.result,
      partial: last.result,
      error: null,
    });
    // The kill was felt and got over: live, reconnecting, live again, ended.
    expect(connections(renders)).toEqual(expect.arrayContaining(['reconnecting']));
    expect(connections(renders).join(' ')).toMatch(/^idle connecting live (reconnecting (connecting )?live )+ended$/);

    // Streams: StrictMode's double mount made one request per id, never two open at a time; the
    // killed replica's was reopened; every request the page counted is one Chromium sent.
    const streams = await streamsOf(page);
    expect(streams.job.max).toBe(1);
    expect(streams.job.open).toBe(0);
    expect(streams.job.urls.filter((url) => url.includes(`/v1/jobs/${first}/events`))).toHaveLength(1);
    expect(streams.job.urls.filter((url) => url.includes(`/v1/jobs/${jobId}/events`)).length).toBeGreaterThanOrEqual(2);
    expect(streamRequests).toEqual(streams.job.urls);
    // Each id's stream was opened once from the start; every later request resumed from its cursor.
    expect(fromTheStart(sent, `/v1/jobs/${jobId}/events`)).toBe(1);
    expect(fromTheStart(sent, `/v1/jobs/${first}/events`)).toBe(1);
    expect(problems).toEqual([]);
  }, 60_000);

  it('useBatch: a batch of 10 on one stream renders to its end across a killed replica, each job’s answer as stored', async () => {
    const { page, streamRequests, problems, sent } = await openApp();
    await page.click(sel('batch-submit'));
    await page.waitForSelector(`${sel('batch')}[data-connection="live"]`, { timeout: 10_000 });
    const batchId = (await page.getAttribute(sel('batch'), 'data-batch-id'))!;
    await expect
      .poll(async () => Number(await page.getAttribute(sel('batch-progress'), 'aria-valuenow')), { timeout: 20_000 })
      .toBeGreaterThan(10);
    const serving = await findServingReplica(tests.stack);
    expect(await page.getAttribute(sel('batch'), 'data-status')).toBe('processing');
    await serving.kill();
    try {
      await page.waitForSelector(`${sel('batch')}[data-status="done"][data-connection="ended"]`, { timeout: 40_000 });
    } finally {
      await serving.start();
    }

    const snapshot = (await request(`${tests.stack.url}/v1/batches/${batchId}`)).body;
    expect(snapshot).toMatchObject({ status: 'done', progress: 100, counts: { done: 10 } });
    await expect(page.getAttribute(sel('batch-progress'), 'aria-valuenow')).resolves.toBe('100');
    await expect(page.textContent(sel('batch-counts'))).resolves.toMatch(/^10 done, 0 processing, 0 queued, 0 failed, 0 cancelled/);
    // Each row: the job's stored result, its bar full; all ten, in the batch's order.
    const rows = await page.$$eval(`${sel('batch-jobs')} li`, (items) =>
      items.map((li) => ({
        jobId: li.dataset.jobId ?? '',
        status: li.dataset.status ?? '',
        value: li.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow'),
        result: li.querySelector('[data-testid="result"]')?.textContent ?? null,
      })),
    );
    expect(rows.map((row) => row.jobId).sort()).toEqual(snapshot.jobs.map((job: { jobId: string }) => job.jobId).sort());
    for (const row of rows) {
      const history = await historyOf(row.jobId);
      expect(row, row.jobId).toEqual({ jobId: row.jobId, status: 'done', value: '100', result: history.at(-1)!.data.result });
    }
    // The last render names the batch stream's last stored event; every job there ended, its text whole.
    const renders = (await rendersOf(page)).filter((render) => render.view === 'batch' && render.batchId === batchId);
    const batchHistory = await historyOf(topics.batch(batchId));
    const final = renders.at(-1)!;
    expect(final).toMatchObject({ lastEventId: batchHistory.at(-1)!.id, status: 'done', connection: 'ended', error: null });
    for (const job of Object.values(final.jobs) as Record<string, any>[]) {
      expect(job).toMatchObject({ status: 'done', connection: 'ended', progress: 100 });
      expect(job.partial).toBe(job.result);
    }
    expect(connections(renders).join(' ')).toMatch(/^idle connecting live (reconnecting (connecting )?live )+ended$/);

    // One stream for the whole batch (no job's own), never two at a time, reopened after the kill.
    const streams = await streamsOf(page);
    expect(streams.batch.max).toBe(1);
    expect(streams.batch.open).toBe(0);
    expect(streams.batch.urls.length).toBeGreaterThanOrEqual(2);
    expect(streams.batch.urls.every((url) => url.includes(`/v1/batches/${batchId}/events`))).toBe(true);
    expect(streams.job.urls).toEqual([]);
    expect(streamRequests).toEqual(streams.batch.urls);
    expect(fromTheStart(sent, `/v1/batches/${batchId}/events`)).toBe(1);
    expect(problems).toEqual([]);
  }, 60_000);
  it('useJobs: a batch’s ten jobs on one /v1/events stream, kept across re-renders and a killed replica; another list reopens it', async () => {
    const { page, streamRequests, problems, sent } = await openApp();
    await page.selectOption(sel('watch-with'), 'list');
    await page.click(sel('batch-submit'));
    await page.waitForSelector(`${sel('list')}[data-connection="live"]`, { timeout: 10_000 });
    await expect
      .poll(async () => page.$$eval(`${sel('list-jobs')} ${sel('partial')}`, (items) => items.some((item) => item.textContent !== '')), {
        timeout: 20_000,
      })
      .toBe(true);
    const serving = await findServingReplica(tests.stack);
    await serving.kill();
    try {
      // Reconnected and resumed (the list re-rendered every frame meanwhile, a new array each time)…
      await expect
        .poll(async () => connections((await rendersOf(page)).filter((render) => render.view === 'list')).join(' '), { timeout: 10_000 })
        .toMatch(/reconnecting (connecting )?live/);
      // …then another list: the last job dropped.
      await page.click(sel('list-drop'));
      await page.waitForSelector(`${sel('list')}[data-ids="9"][data-connection="ended"]`, { timeout: 40_000 });
    } finally {
      await serving.start();
    }

    const lists = (await streamsOf(page)).list;
    const idsOf = (url: string): string[] => new URL(url).searchParams.get('jobs')!.split(',');
    const ten = idsOf(lists.urls[0]!);
    expect(ten).toHaveLength(10);
    const nine = ten.slice(0, 9);
    // The ten: one request from the start, reopened with its cursor after the kill; then the nine, from the start.
    const requested = sent.filter((request) => request.url.includes('/v1/events?'));
    expect(requested.map((request) => idsOf(request.url).length)).toEqual([...requested.slice(0, -1).map(() => 10), 9]);
    expect(requested.length).toBeGreaterThanOrEqual(3);
    expect(requested.filter((request) => request.cursor === undefined).map((request) => idsOf(request.url))).toEqual([ten, nine]);
    expect(idsOf(requested.at(-1)!.url)).toEqual(nine);
    expect(lists.max).toBe(1);
    expect(lists.open).toBe(0);
    expect(lists.urls).toEqual(requested.map((request) => request.url));
    expect(streamRequests).toEqual([]);

    // The nine rows: each job's stored result, in the list's order.
    const rows = await page.$$eval(`${sel('list-jobs')} li`, (items) =>
      items.map((li) => ({
        jobId: li.dataset.jobId ?? '',
        status: li.dataset.status ?? '',
        result: li.querySelector('[data-testid="result"]')?.textContent ?? null,
      })),
    );
    expect(rows.map((row) => row.jobId)).toEqual(nine);
    for (const row of rows) {
      const history = await historyOf(row.jobId);
      expect(row).toEqual({ jobId: row.jobId, status: 'done', result: history.at(-1)!.data.result });
    }
    const final = (await rendersOf(page)).filter((render) => render.view === 'list').at(-1)!;
    expect(final).toMatchObject({ connection: 'ended', error: null });
    expect(Object.keys(final.jobs)).toEqual(nine);
    expect(problems).toEqual([]);
  }, 60_000);
});
