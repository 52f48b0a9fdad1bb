import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { MAX_CREDENTIAL_CHARS } from '@herald/contract';
import { WatchTokens } from '../../apps/api/src/auth/watch-tokens.ts';
import { findServingReplica } from '../support/stack.ts';
import { request, submit } from '../support/http.ts';
import { BEES } from '../support/texts.ts';
import {
  STAGES,
  canRunBrowserTests,
  connectionHistory,
  inPage,
  jobIdOf,
  sel,
  serverHistory,
  setUpPageTests,
  stageLog,
  waitForStatus,
  type Opened,
} from './support.ts';

/**
 * The demo page with auth on (API_KEYS + WATCH_TOKEN_SECRET), in chromium, through nginx: it
 * asks for the key when Herald answers 401, keeps it in the tab's sessionStorage, sends it as a
 * bearer, and watches with the job's watch token, which its shareable link carries.
 */

const KEY = 'page-test-key-0123456789abcdef';
/** A key as long as any credential may be (MAX_CREDENTIAL_CHARS): the page takes what the server takes. */
const LONG_KEY = `long-key-${'x'.repeat(MAX_CREDENTIAL_CHARS - 9)}`;
const SECRET = 'a-watch-token-secret-for-the-page-tests-0123';
const SSE_RETRY_MS = 1000;
const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
const DENIED = 'This link has expired or is not valid';

interface SentRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
}

/** Every request the page makes from now on, with its Authorization header. */
function recordRequests(page: Page): SentRequest[] {
  const sent: SentRequest[] = [];
  page.on('request', (req) => sent.push({ method: req.method(), url: req.url(), authorization: req.headers().authorization }));
  return sent;
}

const textOf = async (page: Page, testId: string): Promise<string> => (await page.textContent(sel(testId))) ?? '';
/** The watch token in the page's address: in its fragment (`#token=…`), which no request carries. */
const tokenInAddress = (page: Page): string => new URLSearchParams(new URL(page.url()).hash.slice(1)).get('token') ?? '';
/** The address of a job's page once it has a token. */
const PAGE_WITH_TOKEN = /\/jobs\/[^/?#]+#token=[^&]+$/;

describe.skipIf(!canRunBrowserTests)('the demo page with auth on, in chromium, through nginx', () => {
  const tests = setUpPageTests({
    API_KEYS: `${KEY},${LONG_KEY}`,
    WATCH_TOKEN_SECRET: SECRET,
    // Paced so a person — and a test killing a replica, or cancelling twice (once refused) on a
    // loaded machine — has time to watch each stage: about 5 s per job.
    STAGE_DELAY_MS: '1000',
    SSE_RETRY_MS: String(SSE_RETRY_MS),
  });

  /** A tab that already holds the key in its sessionStorage (as after entering it once). */
  async function openWithKey(path: string, key = KEY): Promise<Opened> {
    const opened = await tests.open(path);
    await opened.page.evaluate(`sessionStorage.setItem('herald.apiKey', ${JSON.stringify(key)})`);
    await opened.page.reload();
    await expect(opened.page.inputValue(sel('api-key'))).resolves.toBe(key);
    return opened;
  }

  /** Submits BEES from the page (which has the key) and returns the job id and its token from the address. */
  async function submitFromPage(page: Page): Promise<{ jobId: string; token: string }> {
    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));
    await page.waitForURL(PAGE_WITH_TOKEN);
    return { jobId: jobIdOf(page), token: tokenInAddress(page) };
  }

  it('asks for the key on a 401, then submits with it, watches with the token, and its link works without the key', async () => {
    const { page, streamRequests, streamCredentials, problems } = await tests.open('/');
    const sent = recordRequests(page);
    // Hidden until Herald asks for it.
    await expect(page.isVisible(sel('key-row'))).resolves.toBe(false);
    expect((await submit(tests.stack.url, BEES)).status).toBe(401);
    const message = 'Submitting here needs an API key.';

    await page.fill(sel('text'), BEES);
    await page.click(sel('submit'));
    await page.waitForFunction(`document.querySelector('${sel('problem-message')}').textContent === ${JSON.stringify(message)}`);
    await expect(page.isVisible(sel('key-row'))).resolves.toBe(true);
    expect(await inPage(page, 'document.activeElement.id')).toBe('api-key');
    // A labelled password field that the browser does not offer to fill.
    expect(await page.getAttribute(sel('api-key'), 'type')).toBe('password');
    expect(await page.getAttribute(sel('api-key'), 'autocomplete')).toBe('off');
    expect(await inPage(page, `document.getElementById('api-key').labels[0].textContent`)).toBe('API key');
    expect(new URL(page.url()).pathname).toBe('/');
    await expect(page.isVisible(sel('job'))).resolves.toBe(false);

    // Typed into the field, Enter submits again, now with the key.
    await page.fill(sel('api-key'), KEY);
    await page.keyboard.press('Enter');
    await page.waitForURL(PAGE_WITH_TOKEN);
    const jobId = jobIdOf(page);
    const token = tokenInAddress(page);
    expect(token).toMatch(new RegExp(`^${jobId}\\.`));
    await expect(page.isVisible(sel('problem'))).resolves.toBe(false);
    await waitForStatus(page, 'done');

    const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobId}`, { headers: bearer(KEY) });
    expect(snapshot.body).toMatchObject({ status: 'done', progress: 100 });
    await expect(textOf(page, 'result')).resolves.toBe(snapshot.body.result);
    const log = await stageLog(page);
    expect(log.map((entry) => entry.stage)).toEqual(STAGES);
    expect(log.map((entry) => entry.id)).toEqual((await serverHistory(tests.stack, jobId, bearer(KEY))).map((event) => event.id));
    const link = `${tests.stack.url}/jobs/${jobId}#token=${token}`;
    expect(await page.getAttribute(sel('share'), 'href')).toBe(link);
    expect(await connectionHistory(page)).toBe('connecting live closed');
    // The stream went with the job's token as a bearer (the client's fetch sends headers), not in its address.
    expect(streamRequests).toEqual([`${tests.stack.url}/v1/jobs/${jobId}/events?typed=1`]);
    expect(streamCredentials).toEqual([`Bearer ${token}`]);

    // The key: sent as a bearer on the second POST only, never in an address, kept for this tab.
    const posts = sent.filter((r) => r.method === 'POST');
    expect(posts.map((r) => r.authorization)).toEqual([undefined, `Bearer ${KEY}`]);
    expect(sent.filter((r) => r.url.includes(KEY))).toEqual([]);
    // Reading and watching carry the job's token at most, never the key.
    expect(sent.filter((r) => r.method === 'GET' && r.authorization !== undefined && r.authorization !== `Bearer ${token}`)).toEqual([]);
    expect(await inPage(page, `sessionStorage.getItem('herald.apiKey')`)).toBe(KEY);
    // A reload of the tab keeps it (and shows the field with it); the job is watched again with the token.
    await page.reload();
    await waitForStatus(page, 'done', 10_000);
    await expect(page.inputValue(sel('api-key'))).resolves.toBe(KEY);
    await expect(page.isVisible(sel('key-row'))).resolves.toBe(true);
    // The token rode in no request's query, the reload's included: servers and proxies never saw it.
    expect(sent.some((r) => r.method === 'GET' && new URL(r.url).pathname === `/jobs/${jobId}`)).toBe(true);
    expect(sent.filter((r) => new URL(r.url).search.includes(token))).toEqual([]);
    expect(problems).toEqual([]);

    // The shareable link, in another browser context: no key there, the token in the link is enough.
    const shared = await tests.open(`/jobs/${jobId}#token=${token}`);
    await waitForStatus(shared.page, 'done', 10_000);
    await expect(textOf(shared.page, 'result')).resolves.toBe(snapshot.body.result);
    expect((await stageLog(shared.page)).map((entry) => entry.stage)).toEqual(STAGES);
    await expect(shared.page.isVisible(sel('key-row'))).resolves.toBe(false);
    expect(await inPage(shared.page, `sessionStorage.getItem('herald.apiKey')`)).toBeNull();
    expect(await shared.page.getAttribute(sel('share'), 'href')).toBe(link);
    expect(shared.streamRequests).toEqual([`${tests.stack.url}/v1/jobs/${jobId}/events?typed=1`]);
    expect(shared.streamCredentials).toEqual([`Bearer ${token}`]);
    expect(shared.problems).toEqual([]);

    // A link made before the token moved to the fragment still opens; its address then keeps
    // the token in the fragment only, so a reload or a copied address sends it nowhere.
    const old = await tests.open(`/jobs/${jobId}?token=${token}`);
    await waitForStatus(old.page, 'done', 10_000);
    expect(new URL(old.page.url()).search).toBe('');
    expect(tokenInAddress(old.page)).toBe(token);
    expect(await old.page.getAttribute(sel('share'), 'href')).toBe(link);
    expect(old.streamCredentials).toEqual([`Bearer ${token}`]);
    expect(old.problems).toEqual([]);
  });

  it("a batch's link carries the batch's token in the fragment, and so do its jobs' links; an old ?token= link still opens", async () => {
    const accepted = await request(`${tests.stack.url}/v1/batches`, {
      json: { items: [{ text: BEES }, { text: BEES }] },
      headers: bearer(KEY),
    });
    expect(accepted.status).toBe(202);
    const { batchId, watchToken } = accepted.body as { batchId: string; watchToken: string };
    const link = `${tests.stack.url}/batches/${batchId}#token=${watchToken}`;
    for (const path of [`/batches/${batchId}#token=${watchToken}`, `/batches/${batchId}?token=${watchToken}`]) {
      const { page, streamRequests, streamCredentials, problems } = await tests.open(path);
      await expect.poll(() => page.getAttribute(sel('batch'), 'data-status'), { timeout: 20_000 }).toBe('done');
      expect(page.url(), path).toBe(link);
      expect(await page.getAttribute(sel('batch-share'), 'href')).toBe(`/batches/${batchId}#token=${watchToken}`);
      const jobLinks = await page.$$eval(`${sel('batch-jobs')} li a`, (links) => links.map((a) => a.getAttribute('href')));
      expect(jobLinks).toEqual([0, 1].map((n) => `/jobs/${encodeURIComponent(`${batchId}~${n}`)}#token=${encodeURIComponent(watchToken)}`));
      expect(streamRequests.every((url) => !new URL(url).searchParams.has('token'))).toBe(true);
      expect(streamCredentials.every((credential) => credential === `Bearer ${watchToken}`)).toBe(true);
      expect(problems).toEqual([]);
    }
  });

  it('resumes with its token and every stage exactly once when the replica serving its stream dies', async () => {
    const { page, streamRequests, streamCredentials, problems } = await openWithKey('/');
    const { jobId, token } = await submitFromPage(page);
    await page.waitForSelector(`${sel('stage-log')} li[data-stage="received"]`, { timeout: 10_000 });

    const serving = await findServingReplica(tests.stack);
    expect(await page.getAttribute(sel('job'), 'data-status')).toBe('processing');
    await serving.kill();
    try {
      await page.waitForSelector(`${sel('connection')}[data-state="reconnecting"]`, { timeout: 5_000 });
      await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 10_000 });
      await waitForStatus(page, 'done');

      const log = await stageLog(page);
      expect(log.map((entry) => entry.stage)).toEqual(STAGES);
      expect(log.map((entry) => entry.id)).toEqual((await serverHistory(tests.stack, jobId, bearer(KEY))).map((event) => event.id));
      expect(await connectionHistory(page)).toMatch(/^connecting live (reconnecting live )+closed$/);
      // Every attempt carried the token, as a bearer: never in an address.
      expect(streamRequests.length).toBeGreaterThanOrEqual(2);
      expect(streamCredentials).toEqual(streamRequests.map(() => `Bearer ${token}`));
      for (const url of streamRequests) expect(new URL(url).searchParams.has('token')).toBe(false);
      const snapshot = await request(`${tests.stack.url}/v1/jobs/${jobId}?token=${token}`);
      await expect(textOf(page, 'result')).resolves.toBe(snapshot.body.result);
      expect(problems).toEqual([]);
    } finally {
      await serving.start();
    }
  });

  it('cancel without a key asks for it in plain words; with the key it cancels', async () => {
    const accepted = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
    expect(accepted.status).toBe(202);
    const { jobId, watchToken } = accepted.body as { jobId: string; watchToken: string };
    // Someone with only the link: watching works, cancelling needs a key.
    const { page, problems } = await tests.open(`/jobs/${jobId}#token=${watchToken}`);
    const sent = recordRequests(page);
    await page.waitForSelector(`${sel('stage-log')} li[data-stage="received"]`, { timeout: 10_000 });
    await expect(page.isVisible(sel('key-row'))).resolves.toBe(false);

    await page.click(sel('cancel'));
    await page.waitForSelector(`${sel('problem')}:visible`, { timeout: 5_000 });
    const refused = await request(`${tests.stack.url}/v1/jobs/${jobId}`, { method: 'DELETE' });
    expect(refused.status).toBe(401);
    await expect(textOf(page, 'problem-message')).resolves.toBe('Cancelling here needs an API key.');
    await expect(page.isVisible(sel('key-row'))).resolves.toBe(true);
    expect(await inPage(page, 'document.activeElement.id')).toBe('api-key');
    await expect(textOf(page, 'key-hint')).resolves.toMatch(/Cancel/);
    // Nothing was cancelled; the button is ready again.
    expect(await page.getAttribute(sel('job'), 'data-status')).not.toBe('cancelled');
    await expect(textOf(page, 'cancel')).resolves.toBe('Cancel job');

    // Enter in the key field retries the cancel (not the empty form).
    await page.fill(sel('api-key'), KEY);
    await page.keyboard.press('Enter');
    await waitForStatus(page, 'cancelled', 5_000);
    await expect(page.isVisible(sel('cancelled'))).resolves.toBe(true);
    await expect(page.isVisible(sel('problem'))).resolves.toBe(false);
    expect((await stageLog(page)).at(-1)?.stage).toBe('cancelled');
    expect((await request(`${tests.stack.url}/v1/jobs/${jobId}`, { headers: bearer(KEY) })).body.status).toBe('cancelled');
    const deletes = sent.filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => r.authorization)).toEqual([undefined, `Bearer ${KEY}`]);
    expect(sent.filter((r) => r.method === 'POST')).toEqual([]);
    expect(new URL(page.url()).pathname).toBe(`/jobs/${jobId}`);
    expect(problems).toEqual([]);
  });

  it('a tampered, expired, missing or another job\'s token shows "This link has expired or is not valid"', async () => {
    const { body } = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
    const other = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
    const jobId: string = body.jobId;
    const [jobPart, expiry, signature] = (body.watchToken as string).split('.') as [string, string, string];
    const tampered = `${jobPart}.${expiry}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    const expired = new WatchTokens(SECRET, 10).mint(jobId, Date.now() - 60_000);
    const cases: [string | null, number][] = [
      [tampered, 401],
      [expired, 401],
      [other.body.watchToken as string, 403],
      [null, 401],
    ];
    for (const [token, status] of cases) {
      const answer = await request(`${tests.stack.url}/v1/jobs/${jobId}${token === null ? '' : `?token=${token}`}`);
      expect(answer.status, token ?? 'no token').toBe(status);
      const { page, streamRequests, problems } = await tests.open(`/jobs/${jobId}${token === null ? '' : `#token=${token}`}`);
      await page.waitForSelector(`${sel('denied')}:visible`, { timeout: 10_000 });
      await expect(textOf(page, 'denied-title')).resolves.toBe(DENIED);
      await expect(textOf(page, 'denied-reason')).resolves.toBe(answer.body.error.message);
      await expect(textOf(page, 'denied-id')).resolves.toBe(jobId);
      await expect(page.isVisible(sel('job'))).resolves.toBe(false);
      await expect(page.isVisible(sel('not-found'))).resolves.toBe(false);
      // It gave up at once: no stream opened, and none later.
      await page.waitForTimeout(SSE_RETRY_MS * 1.5);
      expect(streamRequests).toEqual([]);
      expect(problems).toEqual([]);
    }
    expect((await request(`${tests.stack.url}/v1/jobs/${jobId}`, { headers: bearer(KEY) })).status).toBe(200);
  });

  it('opens a link without a token when the tab holds the key: Herald hands the page a watch token', async () => {
    const { body } = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
    const jobId: string = body.jobId;
    const { page, streamRequests, streamCredentials, problems } = await openWithKey(`/jobs/${jobId}`);
    await waitForStatus(page, 'done', 15_000);
    expect((await stageLog(page)).map((entry) => entry.stage)).toEqual(STAGES);
    // The address and the link now carry a token of the job's, fresh from the snapshot.
    const token = tokenInAddress(page);
    expect(token).toMatch(new RegExp(`^${jobId}\\.`));
    expect(await page.getAttribute(sel('share'), 'href')).toBe(`${tests.stack.url}/jobs/${jobId}#token=${token}`);
    expect(streamRequests.at(-1)).toBe(`${tests.stack.url}/v1/jobs/${jobId}/events?typed=1`);
    expect(streamCredentials.at(-1)).toBe(`Bearer ${token}`);
    expect(problems).toEqual([]);
  });

  it('a token that expires while watching ends in the same message on the next reconnect, not "reconnecting…" forever', async () => {
    // No worker: the job stays queued while its token runs out.
    const workers = tests.stack.stack.workers;
    await Promise.all(workers.map((worker) => worker.stop()));
    let jobId = '';
    try {
      const { body } = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
      jobId = body.jobId;
      // A token with about five seconds left (tokens expire on whole seconds): time for the page
      // to open and go live even on a loaded machine, before the token runs out.
      const mintedAt = Date.now() - 4_000;
      const shortLived = new WatchTokens(SECRET, 10).mint(jobId, mintedAt);
      const expiresAt = parseInt(shortLived.split('.')[1]!, 36) * 1000;
      const { page, streamRequests, problems } = await tests.open(`/jobs/${jobId}#token=${shortLived}`);
      await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 5_000 });
      await page.waitForSelector(`${sel('stage-log')} li[data-stage="queued"]`, { timeout: 5_000 });
      expect(Date.now()).toBeLessThan(expiresAt);
      const serving = await findServingReplica(tests.stack);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 200)));
      await serving.kill();
      try {
        await page.waitForSelector(`${sel('denied')}:visible`, { timeout: 10_000 });
        await expect(textOf(page, 'denied-reason')).resolves.toMatch(/expired/);
        await expect(page.isVisible(sel('job'))).resolves.toBe(false);
        const attempts = streamRequests.length;
        expect(attempts).toBeGreaterThanOrEqual(2);
        await page.waitForTimeout(SSE_RETRY_MS * 2.5);
        expect(streamRequests).toHaveLength(attempts);
        expect(problems).toEqual([]);
      } finally {
        await serving.start();
      }
    } finally {
      if (jobId) await request(`${tests.stack.url}/v1/jobs/${jobId}`, { method: 'DELETE', headers: bearer(KEY) });
      await Promise.all(workers.map((worker) => worker.start()));
    }
  });
  it('a tab holding the key renews an expired token on the next reconnect: it stays on the job, with the fresh token in its link', async () => {
    // No worker: the job stays queued while its token runs out.
    const workers = tests.stack.stack.workers;
    await Promise.all(workers.map((worker) => worker.stop()));
    let jobId = '';
    try {
      const { body } = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
      jobId = body.jobId;
      // About seven seconds left: time to open the page, give it the key and go live.
      const shortLived = new WatchTokens(SECRET, 10).mint(jobId, Date.now() - 2_000);
      const expiresAt = parseInt(shortLived.split('.')[1]!, 36) * 1000;
      const { page, streamCredentials, problems } = await openWithKey(`/jobs/${jobId}#token=${shortLived}`);
      await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 5_000 });
      expect(Date.now()).toBeLessThan(expiresAt);
      const serving = await findServingReplica(tests.stack);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 200)));
      await serving.kill();
      try {
        // The page minted a fresh token with the key: the address and the link carry it.
        await page.waitForURL((url) => !url.hash.includes(shortLived), { timeout: 10_000 });
        const fresh = tokenInAddress(page);
        expect(fresh).toMatch(new RegExp(`^${jobId}\\.`));
        expect(await page.getAttribute(sel('share'), 'href')).toBe(`${tests.stack.url}/jobs/${jobId}#token=${fresh}`);
        await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 10_000 });
        expect(streamCredentials.at(-1)).toBe(`Bearer ${fresh}`);
        // The renewed stream is the job's: a cancel arrives on it.
        expect((await request(`${tests.stack.url}/v1/jobs/${jobId}`, { method: 'DELETE', headers: bearer(KEY) })).status).toBe(202);
        jobId = '';
        await waitForStatus(page, 'cancelled', 10_000);
        await expect(page.isVisible(sel('denied'))).resolves.toBe(false);
        expect(problems).toEqual([]);
      } finally {
        await serving.start();
      }
    } finally {
      if (jobId) await request(`${tests.stack.url}/v1/jobs/${jobId}`, { method: 'DELETE', headers: bearer(KEY) });
      await Promise.all(workers.map((worker) => worker.start()));
    }
  });
  it('a tab holding the key, opened from a link whose token has expired, reads with the key and watches with a fresh token', async () => {
    const { body } = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
    const expired = new WatchTokens(SECRET, 10).mint(body.jobId, Date.now() - 60_000);
    const { page, streamCredentials, problems } = await openWithKey(`/jobs/${body.jobId}#token=${expired}`);
    await page.waitForURL((url) => !url.hash.includes(expired), { timeout: 10_000 });
    const fresh = tokenInAddress(page);
    expect(fresh).toMatch(new RegExp(`^${body.jobId}\\.`));
    await waitForStatus(page, 'done');
    await expect(page.isVisible(sel('denied'))).resolves.toBe(false);
    expect(streamCredentials.at(-1)).toBe(`Bearer ${fresh}`);
    expect(problems).toEqual([]);
  });
  it('takes an API key as long as the server does (4096 characters): it submits with it and watches the job', async () => {
    const { page, problems } = await openWithKey('/', LONG_KEY);
    const { jobId, token } = await submitFromPage(page);
    expect(token).toMatch(new RegExp(`^${jobId}\\.`));
    await waitForStatus(page, 'done');
    expect(problems).toEqual([]);
  });
  it('a tab holding the key whose first renewal fails on the way (503) asks again, and stays on the job: the link has not expired', async () => {
    const workers = tests.stack.stack.workers;
    await Promise.all(workers.map((worker) => worker.stop()));
    let jobId = '';
    try {
      const { body } = await submit(tests.stack.url, BEES, undefined, bearer(KEY));
      jobId = body.jobId;
      const shortLived = new WatchTokens(SECRET, 10).mint(jobId, Date.now() - 2_000);
      const expiresAt = parseInt(shortLived.split('.')[1]!, 36) * 1000;
      const { page, problems } = await openWithKey(`/jobs/${jobId}#token=${shortLived}`);
      // The first mint meets what a replica going away (or a rate limit) answers; later ones pass.
      let mints = 0;
      await page.route('**/watch-tokens', async (route) => {
        mints += 1;
        if (mints > 1) return route.continue();
        await route.fulfill({
          status: 503,
          headers: { 'Content-Type': 'application/json', 'Retry-After': '1' },
          body: JSON.stringify({ error: { code: 'unavailable', message: 'No replica could answer; try again shortly' } }),
        });
      });
      await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 5_000 });
      expect(Date.now()).toBeLessThan(expiresAt);
      const serving = await findServingReplica(tests.stack);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 200)));
      await serving.kill();
      try {
        await page.waitForURL((url) => !url.hash.includes(shortLived), { timeout: 15_000 });
        expect(mints).toBe(2);
        expect(tokenInAddress(page)).toMatch(new RegExp(`^${jobId}\\.`));
        await page.waitForSelector(`${sel('connection')}[data-state="live"]`, { timeout: 10_000 });
        await expect(page.isVisible(sel('denied'))).resolves.toBe(false);
        expect(problems).toEqual([]);
      } finally {
        await serving.start();
      }
    } finally {
      if (jobId) await request(`${tests.stack.url}/v1/jobs/${jobId}`, { method: 'DELETE', headers: bearer(KEY) });
      await Promise.all(workers.map((worker) => worker.start()));
    }
  });
});
