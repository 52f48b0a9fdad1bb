import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findServingReplica } from '../support/stack.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { BEES } from '../support/texts.ts';
import {
  STAGES,
  canRunBrowserTests,
  connectionHistory,
  inPage,
  jobIdOf,
  sel,
  serverHistory as historyOf,
  setUpPageTests,
  stageLog,
  waitForStatus,
  watchersEverywhere as watchersIn,
} from './support.ts';

/**
 * The demo page in a real browser — Debian's chromium driven by playwright-core — talking to
 * real API replica and worker processes through nginx, as a user's browser would. Auth is off
 * here; page-auth.test.ts has the page with API keys and watch tokens.
 */

const SCREENSHOT = new URL('../../docs/page-finished.png', import.meta.url).pathname;
const MAX_TEXT_CHARS = 2000;
const SSE_RETRY_MS = 1000;

describe.skipIf(!canRunBrowserTests)('the demo page in chromium, through nginx', () => {
  // Paced so a person — and a test killing a replica — has time to watch each stage.
  const tests = setUpPageTests({ STAGE_DELAY_MS: '600', SSE_RETRY_MS: String(SSE_RETRY_MS), MAX_TEXT_CHARS: String(MAX_TEXT_CHARS) });
  const open = tests.open;
  const serverHistory = (jobId: string) => historyOf(tests.stack, jobId);
  const watchersEverywhere = () => watchersIn(tests.stack);

  it('submits a text, fills the bar to 100% stage by stage, shows the summary, and closes its stream', async () => {
    const { page, streamRequests, problems } = await open('/');
    await expect(page.title()).resolves.toMatch(/Herald/);
    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));

    await page.waitForURL(/\/jobs\/[^/]+$/);
    const jobId = jobIdOf(page);
    await expect(page.textContent(sel('job-id'))).resolves.toBe(jobId);
    // Live while it runs: the bar moves before the end.
    await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 10_000 });
    await page.waitForFunction(`(() => {
      const now = Number(document.querySelector('[role=progressbar]').getAttribute('aria-valuenow'));
      return now > 0 && now < 100;
    })()`);
    await expect(page.isVisible(sel('cancel'))).resolves.toBe(true);

    await waitForStatus(page, 'done');
    await expect(page.getAttribute(sel('progress'), 'aria-valuenow')).resolves.toBe('100');
    await expect(page.textContent(sel('percent'))).resolves.toBe('100%');
    const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobId}`);
    expect(snapshot.body).toMatchObject({ status: 'done', progress: 100 });
    expect(snapshot.body.result.length).toBeGreaterThan(0);
    await expect(page.isVisible(sel('result'))).resolves.toBe(true);
    await expect(page.textContent(sel('result'))).resolves.toBe(snapshot.body.result);
    await expect(page.isVisible(sel('cancel'))).resolves.toBe(false);

    const log = await stageLog(page);
    expect(log.map((entry) => entry.stage)).toEqual(STAGES);
    expect(log.map((entry) => entry.id)).toEqual((await serverHistory(jobId)).map((event) => event.id));
    expect(log.map((entry) => entry.progress)).toEqual([...log.map((entry) => entry.progress)].sort((a, b) => a - b));
    expect(await page.getAttribute(sel('share'), 'href')).toBe(`${tests.stack.url}/jobs/${jobId}`);

    if (process.env.HERALD_SCREENSHOT === '1') {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled', caret: 'hide' });
      console.log(`[herald tests] screenshot written to ${SCREENSHOT}`);
    }

    // The page's watch ended with the terminal event: no reconnect (which would get a 204) once
    // the retry delay has passed, and no watcher left on any replica.
    expect(await connectionHistory(page)).toBe('connecting live closed');
    await expect(page.isVisible(sel('connection'))).resolves.toBe(false);
    await page.waitForTimeout(SSE_RETRY_MS * 1.5);
    expect(streamRequests).toHaveLength(1);
    await expect.poll(watchersEverywhere).toBe(0);
    expect(problems).toEqual([]);
  });

  it('shows "reconnecting…" when the replica serving its stream dies, then resumes with every stage exactly once', async () => {
    const { page, streamRequests, problems } = await open('/');
    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));
    await page.waitForURL(/\/jobs\/[^/]+$/);
    const jobId = jobIdOf(page);
    await page.waitForSelector(`${sel('stage-log')} li[data-stage="received"]`, { timeout: 10_000 });

    const serving = await findServingReplica(tests.stack);
    expect(await page.getAttribute(sel('job'), 'data-status')).toBe('processing');
    const killedAt = Date.now();
    await serving.kill();
    try {
      await page.waitForSelector(`${sel('connection')}[data-state="reconnecting"]`, { timeout: 5_000 });
      await expect(page.textContent(sel('connection'))).resolves.toBe('reconnecting…');
      await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 10_000 });
      const resumedAfterMs = Date.now() - killedAt;
      await waitForStatus(page, 'done');

      const log = await stageLog(page);
      expect(log.map((entry) => entry.stage)).toEqual(STAGES);
      const history = await serverHistory(jobId);
      expect(log.map((entry) => entry.id)).toEqual(history.map((event) => event.id));
      expect(await connectionHistory(page)).toMatch(/^connecting live (reconnecting live )+closed$/);
      // The page's client reconnected by itself, resuming after the last event it had (Last-Event-ID).
      expect(streamRequests.length).toBeGreaterThanOrEqual(2);
      const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobId}`);
      await expect(page.textContent(sel('result'))).resolves.toBe(snapshot.body.result);
      expect(problems).toEqual([]);
      console.log(`[herald tests] page resumed ${resumedAfterMs} ms after ${serving.name} was killed`);
    } finally {
      await serving.start();
    }
  });

  it('keeps trying by itself while every replica is down, and finishes once they are back', async () => {
    const { page, streamRequests, problems } = await open('/');
    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));
    await page.waitForURL(/\/jobs\/[^/]+$/);
    const jobId = jobIdOf(page);
    await page.waitForSelector(`${sel('stage-log')} li[data-stage="received"]`, { timeout: 10_000 });

    await Promise.all(tests.stack.replicas.map((replica) => replica.kill()));
    let restartedAt = 0;
    try {
      await page.waitForSelector(`${sel('connection')}[data-state="reconnecting"]`, { timeout: 5_000 });
      // No replica at all: nginx answers the stream route with an empty stream and a retry hint,
      // and the page's client keeps coming back by itself (as it would after a proxy's 502).
      await expect.poll(() => streamRequests.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      await expect(page.getAttribute(sel('connection'), 'data-state')).resolves.toBe('reconnecting');
    } finally {
      await Promise.all(tests.stack.replicas.map((replica) => replica.start()));
      restartedAt = Date.now();
    }
    await waitForStatus(page, 'done', 30_000);
    console.log(
      `[herald tests] page finished ${Date.now() - restartedAt} ms after the replicas were back, after ${streamRequests.length} stream requests`,
    );
    const log = await stageLog(page);
    expect(log.map((entry) => entry.stage)).toEqual(STAGES);
    expect(log.map((entry) => entry.id)).toEqual((await serverHistory(jobId)).map((event) => event.id));
    // Never "live" while only nginx's stand-in answered (Herald-Unavailable): one outage, one
    // "reconnecting", however many stream requests it took.
    expect(await connectionHistory(page)).toBe('connecting live reconnecting live closed');
    const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobId}`);
    await expect(page.textContent(sel('result'))).resolves.toBe(snapshot.body.result);
    expect(problems).toEqual([]);
  });

  it('cancels a running job from its button and shows the cancelled state', async () => {
    const { page, problems } = await open('/');
    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));
    await page.waitForURL(/\/jobs\/[^/]+$/);
    const jobId = jobIdOf(page);
    await page.waitForSelector(`${sel('stage-log')} li[data-stage="received"]`, { timeout: 10_000 });

    await page.click(sel('cancel'));
    await waitForStatus(page, 'cancelled', 5_000);
    // The button went away; the keyboard focus did not get lost with it.
    expect(await inPage(page, 'document.activeElement.id')).toBe('job-title');
    await expect(page.isVisible(sel('cancelled'))).resolves.toBe(true);
    await expect(page.isVisible(sel('cancel'))).resolves.toBe(false);
    await expect(page.isVisible(sel('result-box'))).resolves.toBe(false);
    await expect(page.textContent(sel('status'))).resolves.toBe('cancelled');
    const log = await stageLog(page);
    expect(log.at(-1)?.stage).toBe('cancelled');
    expect(log.map((entry) => entry.stage)).toEqual([...STAGES.slice(0, log.length - 1), 'cancelled']);
    const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobId}`);
    expect(snapshot.body.status).toBe('cancelled');
    expect(await connectionHistory(page)).toMatch(/ closed$/);
    expect(problems).toEqual([]);
  });

  it('says in plain words why an empty text, one of punctuation only, or one too long is refused', async () => {
    const { page, problems } = await open('/');
    const cases: [string, number, string][] = [
      ['   ', 400, 'There is nothing to summarize here: paste a text with some words in it.'],
      ['...!!!???', 400, 'There is nothing to summarize here: paste a text with some words in it.'],
      [
        'x'.repeat(MAX_TEXT_CHARS + 1),
        413,
        `This text is too long: Herald takes up to ${MAX_TEXT_CHARS.toLocaleString('en')} characters, and it has ${(MAX_TEXT_CHARS + 1).toLocaleString('en')}.`,
      ],
    ];
    for (const [text, status, said] of cases) {
      expect((await submit(tests.stack.url, text, { maxSentences: 3 })).status).toBe(status);
      await page.fill(sel('text'), text);
      await page.click(sel('submit'));
      await page.waitForSelector(`${sel('problem')}:visible`);
      await page.waitForFunction(`document.querySelector('${sel('problem-message')}').textContent === ${JSON.stringify(said)}`);
      // No API words beside it: no field paths, no "request body".
      expect(await page.$$eval(`${sel('problem-details')} li`, (items) => items.length)).toBe(0);
      await expect(page.isVisible(sel('problem-details'))).resolves.toBe(false);
      expect(new URL(page.url()).pathname).toBe('/');
      await expect(page.isVisible(sel('job'))).resolves.toBe(false);
    }
    // A good text afterwards clears the message.
    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));
    await page.waitForURL(/\/jobs\/[^/]+$/);
    await expect(page.isVisible(sel('problem'))).resolves.toBe(false);
    expect(problems).toEqual([]);
  });

  it('opened at /jobs/{id} of a finished job, shows its summary; an unknown id shows "not found"', async () => {
    const submitted = await submit(tests.stack.url, BEES, { maxSentences: 2 });
    expect(submitted.status).toBe(202);
    const jobId: string = submitted.body.jobId;
    await SseClient.open(`${tests.stack.url}/v1/jobs/${jobId}/events`).finished(20_000);
    const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobId}`);
    expect(snapshot.body.status).toBe('done');

    const finished = await open(`/jobs/${jobId}`);
    await waitForStatus(finished.page, 'done', 10_000);
    await expect(finished.page.textContent(sel('result'))).resolves.toBe(snapshot.body.result);
    await expect(finished.page.getAttribute(sel('progress'), 'aria-valuenow')).resolves.toBe('100');
    expect((await stageLog(finished.page)).map((entry) => entry.stage)).toEqual(STAGES);
    await expect(finished.page.isVisible(sel('cancel'))).resolves.toBe(false);
    expect(finished.problems).toEqual([]);

    const unknown = await open('/jobs/no-such-job-0000000000');
    await unknown.page.waitForSelector(`${sel('not-found')}:visible`, { timeout: 10_000 });
    await expect(unknown.page.textContent(sel('not-found'))).resolves.toContain('no-such-job-0000000000');
    await expect(unknown.page.isVisible(sel('job'))).resolves.toBe(false);
    expect(unknown.streamRequests).toEqual([]);
    expect(unknown.problems).toEqual([]);
  });

  it('opened at /jobs/{id} of an external job whose result is an object, shows it as indented JSON', async () => {
    const created = await request(`${tests.stack.url}/v1/jobs`, { json: { kind: 'external', title: 'Import' } });
    expect(created.status).toBe(202);
    const jobId: string = created.body.jobId;
    const body = '{"status":"done","result":{"rows":12,"files":["a.csv","b.csv"],"big":12345678901234567890}}';
    const published = await request(`${tests.stack.url}/v1/jobs/${jobId}/events`, {
      body,
      headers: { 'content-type': 'application/json', Authorization: `Bearer ${created.body.publishToken}` },
    });
    expect(published.status).toBe(201);

    const finished = await open(`/jobs/${jobId}`);
    await waitForStatus(finished.page, 'done', 10_000);
    // The browser reads numbers as doubles: the page shows what JSON.parse gave it.
    await expect(finished.page.textContent(sel('result'))).resolves.toBe(JSON.stringify(JSON.parse(body).result, null, 2));
    await expect(finished.page.getAttribute(sel('result'), 'data-json')).resolves.toBe('');
    expect(finished.problems).toEqual([]);
  });

  it('works from the keyboard: Tab to the text box, type, Ctrl+Enter submits', async () => {
    const { page, problems } = await open('/');
    for (let i = 0; i < 5; i += 1) {
      if ((await inPage(page, 'document.activeElement.id')) === 'text') break;
      await page.keyboard.press('Tab');
    }
    expect(await inPage(page, 'document.activeElement.id')).toBe('text');
    // The focus is visible.
    expect(await inPage(page, 'getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    await page.keyboard.type('Bees make honey. Bees live in hives. Honey is sweet.');
    await expect(page.textContent(sel('count'))).resolves.toBe('52');
    await page.keyboard.press('Control+Enter');
    await page.waitForURL(/\/jobs\/[^/]+$/);
    await waitForStatus(page, 'done');
    // Back returns to the empty start page; forward watches the job again.
    await page.goBack();
    await page.waitForSelector(sel('job'), { state: 'hidden' });
    expect(new URL(page.url()).pathname).toBe('/');
    await page.goForward();
    await waitForStatus(page, 'done', 10_000);
    expect(problems).toEqual([]);
  });

  it('links to a readable API reference, rendered from /openapi.json with nothing from elsewhere', async () => {
    const { page, problems } = await open('/');
    await page.click(sel('api-docs'));
    await page.waitForURL(/\/api-docs$/);
    // RapiDoc renders inside its shadow root; playwright's text selectors see into it.
    await page.waitForSelector('text=Submit a job', { timeout: 15_000 });
    await page.waitForSelector('text=Submit many texts as one batch', { state: 'attached', timeout: 5_000 });
    expect(problems).toEqual([]);
  });

  it('fits a 375 px phone screen without sideways scrolling', async () => {
    const { page, problems } = await open('/', {
      viewport: { width: 375, height: 740 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    const overflow = (): Promise<number> => inPage(page, 'document.documentElement.scrollWidth');
    expect(await overflow()).toBeLessThanOrEqual(375);
    await page.fill(sel('text'), BEES);
    await page.tap(sel('submit'));
    await page.waitForURL(/\/jobs\/[^/]+$/);
    await waitForStatus(page, 'done');
    expect(await overflow()).toBeLessThanOrEqual(375);
    // Readable: the text is not shrunk to fit a desktop layout.
    expect(await inPage(page, 'parseFloat(getComputedStyle(document.body).fontSize)')).toBeGreaterThanOrEqual(16);
    expect(await inPage(page, 'innerWidth')).toBe(375);
    expect(problems).toEqual([]);
  });
});
