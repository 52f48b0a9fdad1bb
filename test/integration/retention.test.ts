import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME, QUEUE_PREFIX, keys, type RedisClient } from '@herald/shared';
import { extractiveBackend, type Summarizer } from '@herald/worker-process';
import { request, submit } from '../support/http.ts';
import { keysMatching } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// JOB_TTL_SECONDS is how long a finished job is kept. Herald's own keys (Stream, snapshot,
// cancel key, idempotency key) get a Redis TTL when the job ends and vanish by themselves.
// BullMQ's job hash (which holds the submitted text) is removed by the workers' janitor
// (packages/worker/src/queue-janitor.ts): BullMQ's own `removeOnComplete/removeOnFail: { age }`
// only runs when a later job finishes the same way, which could be never for failures.

const TTL = 2;
const TTL_MS = TTL * 1000;
const SLACK_MS = 3000;
/** The janitor sweeps every TTL/2, but at most once a second. */
const JANITOR_MS = Math.max(1000, TTL_MS / 2);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const bullKey = (jobId: string): string => `${QUEUE_PREFIX}:${QUEUE_NAME}:${jobId}`;
const bullSet = (set: 'completed' | 'failed'): string => `${QUEUE_PREFIX}:${QUEUE_NAME}:${set}`;

/** Every key whose name contains the job id (the job's own keys, BullMQ's hash, lock, logs, …). */
const keysNaming = (redis: RedisClient, jobId: string): Promise<string[]> => keysMatching(redis, `*${jobId}*`);

/** Herald's own keys for a job: these carry a TTL. */
const heraldKeys = (jobId: string, idempotencyKey?: string): string[] => [
  keys.events(jobId),
  keys.snapshot(jobId),
  keys.cancel(jobId),
  ...(idempotencyKey ? [keys.idempotency(null, sha256(idempotencyKey))] : []),
];

/** Polls until none of `names` exists (EXISTS also makes Redis reap an expired key at once). */
async function expectGoneBy(redis: RedisClient, names: readonly string[], deadline: number): Promise<void> {
  for (;;) {
    const left = (await Promise.all(names.map(async (name) => ((await redis.exists(name)) ? name : null)))).filter(Boolean);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`still there ${Date.now() - deadline} ms past the deadline: ${left.join(', ')}`);
    await sleep(100);
  }
}

/** Right after the end: the keys are there, each with a TTL of at most JOB_TTL_SECONDS. */
async function expectExpiring(redis: RedisClient, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const pttl = await redis.pttl(name);
    expect({ name, expiring: pttl > 0 && pttl <= TTL_MS }).toEqual({ name, expiring: true });
  }
}

async function expectNotFound(api: string, jobId: string): Promise<void> {
  expect((await request(`${api}/v1/jobs/${jobId}`)).status).toBe(404);
  const events = await request(`${api}/v1/jobs/${jobId}/events`, { headers: { accept: 'text/event-stream' } });
  expect(events.status).toBe(404);
  expect(events.body).toMatchObject({ error: { code: expect.any(String) } });
}

/** Waits for BullMQ to file the job (just after its last event), and returns its finishedOn. */
async function filed(redis: RedisClient, jobId: string, set: 'completed' | 'failed'): Promise<number> {
  const deadline = Date.now() + 2000;
  while ((await redis.zscore(bullSet(set), jobId)) === null) {
    if (Date.now() > deadline) throw new Error(`job ${jobId} never reached the ${set} set`);
    await sleep(10);
  }
  const value = Number(await redis.hget(bullKey(jobId), 'finishedOn'));
  expect(value).toBeGreaterThan(0);
  return value;
}

const run = async (api: string, text: string, headers?: Record<string, string>) => {
  const { status, body } = await submit(api, text, undefined, headers);
  expect(status).toBe(202);
  const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished();
  return { jobId: body.jobId as string, last: watcher.events.at(-1)!.json };
};

// Texts containing FAIL make this summarizer throw.
const summarizer: Summarizer = {
  name: 'test-retention',
  async summarize(run) {
    if (run.text.includes('FAIL')) throw new Error('the model is on fire');
    return extractiveBackend(0).summarize(run);
  },
};

describe(`jobs that end done or error, JOB_TTL_SECONDS=${TTL}`, () => {
  let system: TestSystem;
  let api: string;
  beforeAll(async () => {
    system = await startSystem({
      replicas: 1,
      summarizer,
      env: { JOB_TTL_SECONDS: String(TTL), STAGE_DELAY_MS: '0', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20' },
    });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('leave nothing behind: every key of theirs is gone within the TTL plus a sweep, the API says 404', async () => {
    const { redis } = system;
    const [done, failed] = await Promise.all([
      run(api, BEES, { 'Idempotency-Key': 'retention-done' }),
      run(api, `${BEES} FAIL`, { 'Idempotency-Key': 'retention-error' }),
    ]);
    expect(done.last.status).toBe('done');
    expect(failed.last.status).toBe('error');
    const ended = Date.now();
    const doneKeys = heraldKeys(done.jobId, 'retention-done').filter((k) => k !== keys.cancel(done.jobId));
    const failedKeys = heraldKeys(failed.jobId, 'retention-error').filter((k) => k !== keys.cancel(failed.jobId));
    await expectExpiring(redis, [...doneKeys, ...failedKeys]);
    const finished = Math.max(await filed(redis, done.jobId, 'completed'), await filed(redis, failed.jobId, 'failed'));

    // Herald's keys expire by themselves within the TTL (plus scheduling slack).
    await expectGoneBy(
      redis,
      [...heraldKeys(done.jobId, 'retention-done'), ...heraldKeys(failed.jobId, 'retention-error')],
      ended + TTL_MS + SLACK_MS,
    );
    await expectNotFound(api, done.jobId);
    await expectNotFound(api, failed.jobId);

    // BullMQ's hashes go too, without any other job having to finish.
    await expectGoneBy(redis, [bullKey(done.jobId), bullKey(failed.jobId)], finished + TTL_MS + JANITOR_MS + SLACK_MS);
    expect(await keysNaming(redis, done.jobId)).toEqual([]);
    expect(await keysNaming(redis, failed.jobId)).toEqual([]);
    expect(await redis.zscore(bullSet('completed'), done.jobId)).toBeNull();
    expect(await redis.zscore(bullSet('failed'), failed.jobId)).toBeNull();
    expect(await keysMatching(redis, 'herald:idem:*')).toEqual([]);
  });
});

describe(`jobs cancelled while queued and while running, JOB_TTL_SECONDS=${TTL}`, () => {
  let system: TestSystem;
  let api: string;
  beforeAll(async () => {
    // One job at a time with slow stages: the first is surely mid-run, the second surely queued.
    system = await startSystem({
      replicas: 1,
      env: { JOB_TTL_SECONDS: String(TTL), STAGE_DELAY_MS: '1000', WORKER_CONCURRENCY: '1' },
    });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  const startRunning = async (text: string) => {
    const { body } = await submit(api, text);
    const watcher = SseClient.open(`${api}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'));
    return { jobId: body.jobId as string, watcher };
  };
  const cancel = async (jobId: string) => expect((await request(`${api}/v1/jobs/${jobId}`, { method: 'DELETE' })).status).toBe(202);

  it('leave nothing behind: the queued one leaves BullMQ at once, the running one within the TTL plus a sweep', async () => {
    const { redis } = system;
    const running = await startRunning(BEES);
    const { body } = await submit(api, `${BEES} Queued.`, undefined, { 'Idempotency-Key': 'retention-queued' });
    const queuedId = body.jobId as string;
    await cancel(queuedId); // first, or the worker would take it up when the running one ends
    await cancel(running.jobId);
    await running.watcher.finished(2000);
    expect(running.watcher.events.at(-1)!.json.status).toBe('cancelled');
    expect((await request(`${api}/v1/jobs/${queuedId}`)).body.status).toBe('cancelled');
    const ended = Date.now();

    const runningKeys = heraldKeys(running.jobId);
    const queuedKeys = heraldKeys(queuedId, 'retention-queued');
    await expectExpiring(redis, [...runningKeys, ...queuedKeys]);
    // The queued job was removed from the queue by the cancel.
    expect(await redis.exists(bullKey(queuedId))).toBe(0);
    // The running one stops and ends as a completed BullMQ job, which the janitor sweeps later.
    const finished = await filed(redis, running.jobId, 'completed');

    await expectGoneBy(redis, [...runningKeys, ...queuedKeys], ended + TTL_MS + SLACK_MS);
    expect(await keysNaming(redis, queuedId)).toEqual([]);
    await expectNotFound(api, running.jobId);
    await expectNotFound(api, queuedId);

    await expectGoneBy(redis, [bullKey(running.jobId)], finished + TTL_MS + JANITOR_MS + SLACK_MS);
    expect(await keysNaming(redis, running.jobId)).toEqual([]);
    expect(await redis.zscore(bullSet('completed'), running.jobId)).toBeNull();
  });
});

describe(`a job still waiting after JOB_TTL_SECONDS=${TTL}`, () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0, env: { JOB_TTL_SECONDS: String(TTL) } });
  });
  afterAll(() => system.close());

  it('keeps its events and snapshot: the TTL counts from the end of a job, not its start', async () => {
    const api = system.apis[0]!.url;
    const { body } = await submit(api, BEES);
    await sleep(TTL_MS + 1000);
    expect(await system.redis.pttl(keys.events(body.jobId))).toBe(-1);
    expect((await request(`${api}/v1/jobs/${body.jobId}`)).body.status).toBe('queued');
    const watcher = SseClient.open(`${api}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor((client) => client.events.length === 1);
    expect(watcher.events[0]!.json.status).toBe('queued');
    watcher.close();
  });
});
