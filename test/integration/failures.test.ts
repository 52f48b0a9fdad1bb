import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractiveBackend, type Summarizer } from '@herald/worker-process';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Texts containing FAIL make this summarizer throw, always; FLAKY ones fail on the first try;
// EMPTY ones get a summary of white space alone.
const seen = new Map<string, number>();
const summarizer: Summarizer = {
  name: 'test-failing',
  async summarize(run) {
    const tries = (seen.get(run.text) ?? 0) + 1;
    seen.set(run.text, tries);
    if (run.text.includes('FAIL')) throw new Error('the model is on fire\n    at secret (/srv/internal.ts:1:1)');
    if (run.text.includes('FLAKY') && tries === 1) throw new Error('transient hiccup');
    if (run.text.includes('EMPTY')) return ' \n\t ';
    return extractiveBackend(0).summarize(run);
  },
};

let system: TestSystem;
let api: string;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, summarizer, env: { JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '20' } });
  api = system.apis[0]!.url;
});
afterAll(() => system.close());

describe('a job that always throws', () => {
  it('is retried with backoff, then ends with one error event: a code and a message, no stack', async () => {
    const text = `${BEES} FAIL`;
    const { body } = await submit(api, text);
    const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished();
    expect(seen.get(text)).toBe(3);
    const retries = watcher.events.filter((event) => /retrying/.test(String(event.json.message)));
    expect(retries.map((event) => event.json.message)).toEqual([
      'Attempt 1 of 3 failed (the model is on fire); retrying',
      'Attempt 2 of 3 failed (the model is on fire); retrying',
    ]);
    const last = watcher.events.at(-1)!.json;
    // The event's message names the job's kind (docs/api.md, "Failures").
    expect(last).toMatchObject({
      status: 'error',
      message: 'The summarize job failed',
      error: { code: 'summarize_failed', message: 'the model is on fire' },
    });
    expect(JSON.stringify(watcher.events.map((event) => event.json))).not.toMatch(/internal\.ts|at secret/);
    await expectExactHistory(system.redis, body.jobId, watcher.events);
  });

  it('says a retry is a retry, and progress never goes back across it', async () => {
    const text = `${BEES} FLAKY`;
    const { body } = await submit(api, text);
    const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished();
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    expect(watcher.events.some((event) => / \(attempt 2 of 3\)$/.test(String(event.json.message)))).toBe(true);
    await expectExactHistory(system.redis, body.jobId, watcher.events);
  });

  it('a summary of nothing (white space alone) is retried, then ends empty_summary in the stream and the snapshot', async () => {
    const text = `${BEES} EMPTY`;
    const { body } = await submit(api, text);
    const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished();
    expect(seen.get(text)).toBe(3);
    const retries = watcher.events.filter((event) => /retrying/.test(String(event.json.message)));
    expect(retries.map((event) => event.json.message)).toEqual([
      'Attempt 1 of 3 failed (The job produced an empty result); retrying',
      'Attempt 2 of 3 failed (The job produced an empty result); retrying',
    ]);
    const last = watcher.events.at(-1)!.json;
    expect(last).toMatchObject({ status: 'error', error: { code: 'empty_summary' } });
    expect(watcher.events.filter((event) => ['done', 'error', 'cancelled'].includes(event.json.status))).toHaveLength(1);
    expect((await request(`${api}/v1/jobs/${body.jobId}`)).body).toMatchObject({ status: 'error', error: last.error });
    await expectExactHistory(system.redis, body.jobId, watcher.events);
  });

  it('leaves the worker serving other jobs', async () => {
    const failing = await submit(api, `${BEES} FAIL again`);
    const fine = await submit(api, BEES);
    const [bad, good] = await Promise.all([
      SseClient.open(`${api}/v1/jobs/${failing.body.jobId}/events`).finished(),
      SseClient.open(`${api}/v1/jobs/${fine.body.jobId}/events`).finished(),
    ]);
    expect(bad.events.at(-1)!.json.status).toBe('error');
    expect(good.events.at(-1)!.json.status).toBe('done');
  });
});
