import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '@herald/contract';
import { expectExactHistory } from '../support/assertions.ts';
import { startFakeOpenAI, type FakeOpenAI, type Reply } from '../support/fake-openai.ts';
import { freePort } from '../support/free-port.ts';
import { request, submit } from '../support/http.ts';
import { SseClient, type ReceivedEvent } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// docs/api.md, "Failures": every code a model server can cause, end to end, with the number of
// calls and attempts the table promises; and what a model server may put in a 200 stream
// besides its tokens (`:` keep-alive comments, an `error` event). The cases run at once, each
// job's text naming its case, which the stand-in (test/support/fake-openai.ts) answers by.

const ATTEMPTS = 2; // JOB_ATTEMPTS
const CALLS = 3; // one model call and its LLM_MAX_RETRIES (2) retries by the SDK
const DROP_CALLS = 3; // an answer that broke off, and the two more times it is asked
const LEAK = 'sk-live-LEAK in your text';

const env = (baseUrl: string): Record<string, string> => ({
  SUMMARIZER: 'openai',
  OPENAI_BASE_URL: baseUrl,
  OPENAI_MODEL: 'test-model',
  LLM_TIMEOUT_MS: '1500',
  LLM_MAX_RETRIES: '2',
  STREAM_FLUSH_MS: '50',
  JOB_ATTEMPTS: String(ATTEMPTS),
  JOB_BACKOFF_MS: '50',
  WORKER_CONCURRENCY: '20',
});

const retries = (events: readonly ReceivedEvent[]) =>
  events.filter((event) => new RegExp(`^Attempt \\d of ${ATTEMPTS} failed .*; retrying$`).test(event.json.message));

/** The job ended `error` with `code`, once, as its last event, in its stream and its snapshot. */
async function expectFailed(system: TestSystem, api: string, jobId: string, watcher: SseClient, code: string): Promise<void> {
  const last = watcher.events.at(-1)!.json;
  expect(last).toMatchObject({ status: 'error', error: { code } });
  expect(watcher.events.filter((event) => isTerminal(event.json.status))).toHaveLength(1);
  expect(watcher.events.some((event) => event.json.status === 'done')).toBe(false);
  const snapshot = (await request(`${api}/v1/jobs/${jobId}`)).body;
  expect(snapshot).toMatchObject({ status: 'error', error: last.error, lastEventId: watcher.lastEventId });
  expect(JSON.stringify(watcher.events.map((event) => event.json))).not.toContain('LEAK');
  await expectExactHistory(system.redis, jobId, watcher.events);
}

describe('what a model server does to a job, case by case', () => {
  let fake: FakeOpenAI;
  let system: TestSystem;
  let api: string;
  /** What the stand-in answers to the requests for each case, by the `[case:…]` in their text. */
  const replies = new Map<string, Reply>();
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    fake.fallback = (seen) => {
      const name = /\[case:([a-z0-9-]+)\]/.exec(seen.body.messages.at(-1)!.content)?.[1];
      return (name && replies.get(name)) || { kind: 'answer', pieces: ['A short summary.'] };
    };
    system = await startSystem({ replicas: 1, env: env(fake.baseUrl) });
    api = system.apis[0]!.url;
  });
  afterAll(async () => {
    await system.close();
    await fake.close();
  });

  /** Submits a job whose every model call gets `reply`; resolves once its stream has ended. */
  async function run(name: string, reply: Reply) {
    replies.set(name, reply);
    const { body } = await submit(api, `${BEES} [case:${name}]`);
    const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished(25_000);
    const calls = fake.requests.filter((seen) => seen.body.messages.at(-1)!.content.includes(`[case:${name}]`));
    return { jobId: body.jobId as string, watcher, calls };
  }

  describe.concurrent('codes that end the job at once, after one call', () => {
    it.each<{ code: string; what: string; reply: Reply }>([
      { code: 'content_filtered', what: 'a content filter', reply: { kind: 'answer', pieces: ['Some of a '], finish: 'content_filter' } },
      { code: 'upstream_rejected', what: 'a 400', reply: { kind: 'error', status: 400 } },
      { code: 'upstream_rejected', what: 'a 404 (unknown model)', reply: { kind: 'error', status: 404 } },
      { code: 'upstream_rejected', what: 'a 422', reply: { kind: 'error', status: 422 } },
      { code: 'upstream_auth', what: 'a 403', reply: { kind: 'error', status: 403 } },
      {
        code: 'truncated_answer',
        what: 'an answer cut at max_tokens',
        reply: { kind: 'answer', pieces: ['A summary that '], finish: 'length' },
      },
    ])('$code, for $what: no retry', async ({ code, what, reply }) => {
      const { jobId, watcher, calls } = await run(`once-${what.replace(/[^a-z0-9]+/g, '-')}`, reply);
      await expectFailed(system, api, jobId, watcher, code);
      expect(calls).toHaveLength(1);
      expect(retries(watcher.events)).toEqual([]);
    });
  });

  describe.concurrent('codes retried JOB_ATTEMPTS times', () => {
    it.each<{ code: string; what: string; reply: Reply; perAttempt: number }>([
      { code: 'upstream_unavailable', what: 'a server that keeps answering 503', reply: { kind: 'error', status: 503 }, perAttempt: CALLS },
      { code: 'upstream_unavailable', what: 'a server that keeps answering 429', reply: { kind: 'error', status: 429 }, perAttempt: CALLS },
      { code: 'upstream_unreachable', what: 'a server that hangs up before answering', reply: { kind: 'hangup' }, perAttempt: CALLS },
      {
        code: 'upstream_dropped',
        what: 'an answer that keeps breaking off',
        reply: { kind: 'drop', pieces: ['Half an ', 'answer'], delayMs: 50 },
        perAttempt: DROP_CALLS,
      },
      {
        code: 'upstream_dropped',
        what: 'an error event in a 200 stream',
        reply: { kind: 'stream-error', pieces: ['Half an ', 'answer'], delayMs: 50, message: LEAK },
        perAttempt: DROP_CALLS,
      },
      {
        code: 'upstream_dropped',
        what: 'an `event: error` in a 200 stream',
        reply: { kind: 'stream-error', pieces: [], named: true, message: LEAK },
        perAttempt: DROP_CALLS,
      },
      { code: 'upstream_timeout', what: 'keep-alive comments and no token', reply: { kind: 'silence', keepAliveMs: 200 }, perAttempt: 1 },
      { code: 'empty_answer', what: 'an answer of white space', reply: { kind: 'answer', pieces: [' ', '\n'] }, perAttempt: 1 },
    ])('$code, for $what: $perAttempt calls per attempt', async ({ code, what, reply, perAttempt }) => {
      const { jobId, watcher, calls } = await run(`retried-${what.replace(/[^a-z0-9]+/g, '-')}`, reply);
      await expectFailed(system, api, jobId, watcher, code);
      expect(calls).toHaveLength(perAttempt * ATTEMPTS);
      expect(retries(watcher.events).map((event) => event.json.message)).toEqual([
        `Attempt 1 of ${ATTEMPTS} failed (${watcher.events.at(-1)!.json.error!.message}); retrying`,
      ]);
    });
  });

  it('an error event mid-answer is asked again, and the new answer replaces what it had written', async () => {
    const name = 'error-then-answer';
    let calls = 0;
    const before = fake.fallback;
    fake.fallback = (seen) => {
      if (!seen.body.messages.at(-1)!.content.includes(`[case:${name}]`)) return before(seen);
      calls += 1;
      return calls === 1
        ? { kind: 'stream-error', pieces: ['This answer ', 'fails '], message: LEAK }
        : { kind: 'answer', pieces: ['The second ', 'answer.'] };
    };
    try {
      const { body } = await submit(api, `${BEES} [case:${name}]`);
      const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished(15_000);
      expect(watcher.events.at(-1)!.json).toMatchObject({ status: 'done', result: 'The second answer.' });
      expect(calls).toBe(2);
      expect(retries(watcher.events)).toEqual([]); // asked again within the attempt
      expect(JSON.stringify(watcher.events.map((event) => event.json))).not.toContain('LEAK');
      await expectExactHistory(system.redis, body.jobId, watcher.events);
    } finally {
      fake.fallback = before;
    }
  });

  it('`:` keep-alive comments between tokens are ignored: the summary is the tokens alone', async () => {
    const pieces = ['Bees ', 'make ', 'honey.'];
    const { jobId, watcher, calls } = await run('keep-alive-between-tokens', { kind: 'answer', pieces, delayMs: 30, keepAlive: true });
    expect(watcher.events.at(-1)!.json).toMatchObject({ status: 'done', result: 'Bees make honey.' });
    expect(calls).toHaveLength(1);
    expect((await request(`${api}/v1/jobs/${jobId}`)).body).toMatchObject({ status: 'done', result: 'Bees make honey.' });
  });
});

describe('a model server nothing listens on', () => {
  let system: TestSystem;
  let api: string;
  beforeAll(async () => {
    const port = await freePort(); // free a moment ago, and nothing is started on it
    system = await startSystem({ replicas: 1, env: { ...env(`http://127.0.0.1:${port}/v1`), LLM_MAX_RETRIES: '1' } });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('ends the job upstream_unreachable after JOB_ATTEMPTS attempts', async () => {
    const { body } = await submit(api, BEES);
    const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished(15_000);
    await expectFailed(system, api, body.jobId, watcher, 'upstream_unreachable');
    expect(retries(watcher.events).map((event) => event.json.message)).toEqual([
      `Attempt 1 of ${ATTEMPTS} failed (The model server could not be reached); retrying`,
    ]);
  });
});
