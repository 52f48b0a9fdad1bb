import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { SseClient } from '../support/sse-client.ts';
import { canRun } from '../support/requirements.ts';

/**
 * What the page tests share: Debian's chromium driven by playwright-core, a stack of real API
 * replica and worker processes behind nginx, and the page's observable state (by data-testid).
 */

export const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const haveNginx = spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
/** Whether this machine can run the browser tests; says why not (and, under CI=true, fails) when it cannot. */
export const canRunBrowserTests = canRun('browser tests', [
  !haveChromium && `no chromium at ${CHROMIUM} (apt-get install chromium)`,
  !haveNginx && 'no nginx on the PATH (apt-get install nginx-light)',
]);

/** Each stage, exactly once, in order: what a finished job's stage log must show. */
export const STAGES = ['queued', 'received', 'analyzing', 'summarizing', 'polishing', 'done'];

export const sel = (testId: string): string => `[data-testid="${testId}"]`;
/** An expression evaluated in the page (a string: the tests are type-checked without the DOM lib). */
export const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

export interface Opened {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every request for a job's (or a batch's) event stream the page made, in order. */
  readonly streamRequests: string[];
  /** The Authorization header of each of those requests (the page's client sends a watch token as a bearer). */
  readonly streamCredentials: (string | undefined)[];
  /** Uncaught page errors, CSP violations, and requests to anywhere but the stack. */
  readonly problems: string[];
}

export interface PageTests {
  readonly stack: TestStack;
  readonly browser: Browser;
  /**
   * A fresh browser context (its own sessionStorage), on `path` of the stack; `tls`: through
   * nginx's HTTP/2 over TLS port (its self-signed certificate accepted) instead of HTTP/1.1;
   * `ops`: through nginx's operations listener (/admin).
   */
  open(path: string, options?: BrowserContextOptions & { readonly tls?: boolean; readonly ops?: boolean }): Promise<Opened>;
}

/**
 * Registers the hooks of a describe block: a stack (3 replicas, 2 workers, `env` on top) and
 * a browser, both started at once in beforeAll, stopped in afterAll; contexts closed after each test.
 */
export function setUpPageTests(env: Record<string, string> | (() => Record<string, string>)): PageTests {
  let stack: TestStack | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    // Both at once; whichever started is stopped by afterAll even when the other failed.
    const [startedStack, launched] = await Promise.allSettled([
      startTestStack({ apiReplicas: 3, workers: 2, env: typeof env === 'function' ? env() : env }),
      // launch() gives every browser a fresh temporary profile of its own (--user-data-dir is
      // playwright's to set), removed again by close().
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      }),
    ]);
    if (startedStack.status === 'fulfilled') stack = startedStack.value;
    if (launched.status === 'fulfilled') browser = launched.value;
    if (startedStack.status === 'rejected') throw startedStack.reason;
    if (launched.status === 'rejected') throw launched.reason;
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });

  const tests: PageTests = {
    get stack() {
      if (!stack) throw new Error('the stack is not running');
      return stack;
    },
    get browser() {
      if (!browser) throw new Error('the browser is not running');
      return browser;
    },
    async open(path, { tls = false, ops = false, ...options } = {}) {
      const base = ops ? tests.stack.opsUrl : tls ? tests.stack.tlsUrl : tests.stack.url;
      const context = await tests.browser.newContext({
        viewport: { width: 900, height: 700 },
        locale: 'en-US',
        ...(tls ? { ignoreHTTPSErrors: true } : {}),
        ...options,
      });
      contexts.push(context);
      const page = await context.newPage();
      const streamRequests: string[] = [];
      const streamCredentials: (string | undefined)[] = [];
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (/Content.Security.Policy/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
      });
      page.on('request', (req) => {
        const url = req.url();
        if (!url.startsWith(`${base}/`) && !url.startsWith('data:')) problems.push(`external request: ${url}`);
        if (/\/v1\/(jobs|batches)\/[^/]+\/events/.test(url)) {
          streamRequests.push(url);
          streamCredentials.push(req.headers().authorization);
        }
      });
      await page.goto(`${base}${path}`);
      return { page, context, streamRequests, streamCredentials, problems };
    },
  };
  return tests;
}

export const jobIdOf = (page: Page): string => {
  const match = /^\/jobs\/([^/]+)$/.exec(new URL(page.url()).pathname);
  if (!match?.[1]) throw new Error(`not on a job's page: ${page.url()}`);
  return decodeURIComponent(match[1]);
};

export const stageLog = (page: Page): Promise<{ stage: string; id: string; progress: number }[]> =>
  page.$$eval(`${sel('stage-log')} li`, (items) =>
    items.map((li) => ({ stage: li.dataset.stage ?? '', id: li.dataset.eventId ?? '', progress: Number(li.dataset.progress) })),
  );

export const connectionHistory = (page: Page): Promise<string> =>
  page.getAttribute(sel('connection'), 'data-history').then((history) => history ?? '');

export const waitForStatus = (page: Page, status: string, timeout = 20_000): Promise<unknown> =>
  page.waitForSelector(`${sel('job')}[data-status="${status}"]`, { state: 'attached', timeout });

/** The whole history as the server keeps it (the stream of a finished job, from its start). */
export async function serverHistory(
  stack: TestStack,
  jobId: string,
  headers: Record<string, string> = {},
): Promise<{ stage: string; id: string }[]> {
  const client = await SseClient.open(`${stack.url}/v1/jobs/${jobId}/events`, headers).finished();
  return client.events.map((event) => ({ stage: String(event.json.stage ?? event.json.status), id: event.id ?? '' }));
}

/** SSE watchers on all replicas together. */
export async function watchersEverywhere(stack: TestStack): Promise<number> {
  const counts = await Promise.all(
    stack.replicas.map(async (replica) => {
      const text = await fetch(`${replica.url}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      return Number(/^herald_sse_watchers(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}
