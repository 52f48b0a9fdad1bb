import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldPartial } from '@herald/contract';
import { Queue } from 'bullmq';
import { EventReader, QUEUE_NAME, bullConnection, keys, queuePrefix, releaseBullConnection } from '@herald/shared';
import { expectError, expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { redisSettings, keysMatching } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });

interface External {
  readonly jobId: string;
  readonly publishToken: string;
  /** POSTs one event with the job's publish token, to `base` (a replica). */
  publish(base: string, event: unknown, headers?: Record<string, string>): ReturnType<typeof request>;
}

async function createExternal(base: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<External> {
  const created = await request(`${base}/v1/jobs`, { json: { kind: 'external', ...body }, headers });
  expect(created.status).toBe(202);
  const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };
  return {
    jobId,
    publishToken,
    publish: (target, event, extra = {}) =>
      request(`${target}/v1/jobs/${jobId}/events`, { json: event, headers: { ...bearer(publishToken), ...extra } }),
  };
}

describe('external jobs: a producer publishes through one replica, watchers read from another', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({});
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  it('creates the job with a publish token and its link; watchers see every event, then the result', async () => {
    const created = await request(`${a}/v1/jobs`, {
      json: { kind: 'external', title: 'Transcode holiday.mov', metadata: { input: 'holiday.mov', preset: 'web' } },
    });
    expect(created.status).toBe(202);
    const { jobId, publishToken } = created.body;
    expect(publishToken).toMatch(new RegExp(`^${jobId}\\.[A-Za-z0-9_-]{43}$`));
    expect(created.body.links).toEqual({
      self: `/v1/jobs/${jobId}`,
      events: `/v1/jobs/${jobId}/events`,
      publish: `/v1/jobs/${jobId}/events`,
    });
    expect(created.body.status).toBe('queued');

    const watcher = SseClient.open(`${b}/v1/jobs/${jobId}/events`);
    await watcher.waitFor((client) => client.events.length === 1);
    const publish = (event: unknown) => request(`${a}${created.body.links.publish}`, { json: event, headers: bearer(publishToken) });
    const answers = [
      await publish({ status: 'processing', progress: 5, stage: 'probe', message: 'Reading the input' }),
      await publish({ status: 'processing', message: 'Still reading' }), // no progress: it stays at 5
      await publish({ status: 'processing', progress: 40, delta: 'frame 1', offset: 0, message: 'Encoding' }),
      await publish({ status: 'processing', progress: 60, delta: 's 1–50', offset: 5, message: 'Encoding' }),
      await publish({ status: 'done', result: '12.4 MB, 31.0 s', message: 'Transcoded' }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(201);
      expect(answer.body).toEqual({ eventId: expect.stringMatching(/^\d+-\d+$/) });
    }
    await watcher.finished();
    expect(watcher.events.map((event) => event.id)).toEqual([expect.any(String), ...answers.map((answer) => answer.body.eventId)]);
    expect(watcher.events.map((event) => [event.json.status, event.json.progress])).toEqual([
      ['queued', 0],
      ['processing', 5],
      ['processing', 5],
      ['processing', 40],
      ['processing', 60],
      ['done', 100],
    ]);
    // Herald adds jobId and ts; the producer's fields arrive as sent.
    expect(watcher.events[3]!.json).toEqual({
      jobId,
      status: 'processing',
      progress: 40,
      message: 'Encoding',
      delta: 'frame 1',
      offset: 0,
      ts: expect.any(Number),
    });
    await expectExactHistory(system.redis, jobId, watcher.events);

    const snapshot = await request(`${b}/v1/jobs/${jobId}`);
    expect(snapshot.body).toMatchObject({
      jobId,
      kind: 'external',
      title: 'Transcode holiday.mov',
      metadata: { input: 'holiday.mov', preset: 'web' },
      status: 'done',
      progress: 100,
      result: '12.4 MB, 31.0 s',
      lastEventId: answers.at(-1)!.body.eventId,
    });
    expect(snapshot.body.partial).toBeUndefined();
    // Once ended, the job expires like any other.
    const ttl = await system.redis.ttl(keys.snapshot(jobId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(system.config.JOB_TTL_SECONDS);
  });

  it('shows the text being written in the snapshot while the job runs', async () => {
    const job = await createExternal(a);
    await job.publish(a, { status: 'processing', progress: 10, delta: 'Hello, ', offset: 0 });
    await job.publish(b, { status: 'processing', progress: 20, delta: 'world', offset: 7 });
    expect((await request(`${a}/v1/jobs/${job.jobId}`)).body).toMatchObject({ status: 'processing', partial: 'Hello, world' });
    // An offset past the text so far is refused, and changes nothing.
    const gap = await job.publish(a, { status: 'processing', progress: 30, delta: '!', offset: 40 });
    expectError(gap, 409, 'bad_offset');
    expect(gap.body.error.details).toMatchObject({ partial: 'Hello, world', progress: 20 });
  });

  it('folds the text in Redis exactly as foldPartial does, in any script, appending or rewriting', async () => {
    const job = await createExternal(a);
    // [delta, offset]: appends, a rewrite from the middle, a restart from 0, astral characters (two UTF-16 units).
    const steps: [string, number][] = [
      ['Bees 🐝 ', 0],
      ['make ', 8],
      ['蜂蜜 and wax', 13],
      ['honey', 13],
      ['Ein Bienen🐝stock', 0],
      ['!', 17],
      ['e\u0301 ', 18],
    ];
    let expected = '';
    let progress = 0;
    for (const [delta, offset] of steps) {
      progress += 1;
      const answer = await job.publish(a, { status: 'processing', progress, delta, offset });
      expect({ delta, status: answer.status }).toEqual({ delta, status: 201 });
      expected = foldPartial(expected, { delta, offset });
      expect((await request(`${b}/v1/jobs/${job.jobId}`)).body.partial).toBe(expected);
    }
    // Between the two UTF-16 units of the bee in "Ein Bienen🐝stock…" (10 and 11), and past the end.
    for (const offset of [11, expected.length + 1]) {
      expectError(await job.publish(a, { status: 'processing', delta: 'x', offset }), 409, 'bad_offset');
    }
    expect((await request(`${b}/v1/jobs/${job.jobId}`)).body.partial).toBe(expected);
  });

  it('takes over a text begun under 0.1.0, which kept it in the snapshot hash: read there, moved by its next event, gone at the end', async () => {
    const job = await createExternal(a);
    await job.publish(a, { status: 'processing', progress: 10, delta: 'Hello, ', offset: 0 });
    // The text as Herald 0.1.0 kept it: in the hash's `partial`, no key of its own.
    await system.redis.hset(keys.snapshot(job.jobId), 'partial', 'Hello, ');
    await system.redis.del(keys.text(job.jobId));
    expect((await request(`${a}/v1/jobs/${job.jobId}`)).body.partial).toBe('Hello, ');
    expect((await job.publish(b, { status: 'processing', progress: 20, delta: 'world', offset: 7 })).status).toBe(201);
    expect((await request(`${a}/v1/jobs/${job.jobId}`)).body.partial).toBe('Hello, world');
    expect(await system.redis.hexists(keys.snapshot(job.jobId), 'partial')).toBe(0);
    expect((await job.publish(a, { status: 'done', result: 'Hello, world' })).status).toBe(201);
    expect(await system.redis.exists(keys.text(job.jobId))).toBe(0);
  });

  it('resumes a watcher from its Last-Event-ID, on the other replica', async () => {
    const job = await createExternal(a);
    const first = await job.publish(a, { status: 'processing', progress: 10, message: 'one' });
    await job.publish(a, { status: 'processing', progress: 20, message: 'two' });
    await job.publish(a, { status: 'done', result: 'ok' });
    const resumed = SseClient.open(`${b}/v1/jobs/${job.jobId}/events`, { 'Last-Event-ID': first.body.eventId });
    await resumed.finished();
    expect(resumed.events.map((event) => event.json.message)).toEqual(['two', '']);
    await expectExactHistory(system.redis, job.jobId, resumed.events, first.body.eventId);
  });

  it('refuses progress going back and anything after the end with 409 and the job’s state, adding nothing', async () => {
    const job = await createExternal(a);
    await job.publish(a, { status: 'processing', progress: 50, message: 'Half' });
    const back = await job.publish(b, { status: 'processing', progress: 49, message: 'Oops' });
    expectError(back, 409, 'progress_backwards');
    expect(back.body.error.details).toMatchObject({ jobId: job.jobId, status: 'processing', progress: 50, message: 'Half' });

    expect((await job.publish(a, { status: 'error', progress: 50, error: { code: 'disk_full', message: 'No space left' } })).status).toBe(
      201,
    );
    const length = await system.redis.xlen(keys.events(job.jobId));
    for (const late of [
      { status: 'processing', progress: 90, message: 'Too late' },
      { status: 'done', progress: 100, result: 'x' },
      { status: 'cancelled' },
    ]) {
      const answer = await job.publish(b, late);
      expectError(answer, 409, 'already_finished');
      expect(answer.body.error.details).toMatchObject({ status: 'error', error: { code: 'disk_full', message: 'No space left' } });
    }
    expect(await system.redis.xlen(keys.events(job.jobId))).toBe(length);
  });

  it('refuses a bad body with 400 naming the field, and adds nothing', async () => {
    const job = await createExternal(a);
    const cases: [unknown, string][] = [
      [{ status: 'queued', progress: 1 }, 'status'],
      [{ status: 'processing', progress: 101 }, 'progress'],
      [{ status: 'processing', progress: 1.5 }, 'progress'],
      [{ status: 'processing', progress: 10, result: 'early' }, 'result'],
      [{ status: 'error', progress: 10 }, 'error'],
      [{ status: 'done', error: { code: 'x', message: 'y' } }, 'error'],
      [{ status: 'processing', delta: 'abc' }, 'offset'],
      [{ status: 'done', delta: 'abc', offset: 0 }, 'delta'],
      [{ status: 'processing', progress: 10, jobId: 'someone-else' }, 'jobId'],
      [{ status: 'processing', progress: 10, ts: 1 }, 'ts'],
      [{ status: 'processing', message: 'x'.repeat(1001) }, 'message'],
      [[], ''],
    ];
    for (const [body, field] of cases) {
      const answer = await job.publish(a, body);
      expect({ body, status: answer.status, code: answer.body.error?.code }).toEqual({ body, status: 400, code: 'invalid_request' });
      if (field !== '') expect(JSON.stringify(answer.body.error.details)).toContain(field);
    }
    const notJson = await request(`${a}/v1/jobs/${job.jobId}/events`, {
      body: 'status=processing',
      headers: { ...bearer(job.publishToken), 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expectError(notJson, 415, 'unsupported_media_type');
    expectError(
      await request(`${a}/v1/jobs/${job.jobId}/events`, { method: 'POST', headers: bearer(job.publishToken) }),
      400,
      'invalid_request',
    );
    expect(await system.redis.xlen(keys.events(job.jobId))).toBe(1); // only `queued`
  });

  it('needs the job’s own publish token: none or a forged one is 401, another job’s is 403', async () => {
    const job = await createExternal(a);
    const other = await createExternal(a);
    const url = `${b}/v1/jobs/${job.jobId}/events`;
    const event = { status: 'processing', progress: 1 };
    const [, signature] = job.publishToken.split('.') as [string, string];
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    expectError(await request(url, { json: event }), 401, 'unauthorized');
    expectError(await request(url, { json: event, headers: bearer(`${job.jobId}.${flipped}`) }), 401, 'unauthorized');
    expectError(await request(url, { json: event, headers: bearer('not-a-key-and-not-a-token') }), 401, 'unauthorized');
    // Another job's token, and one whose job part was swapped for this job: the signature binds it.
    expectError(await request(url, { json: event, headers: bearer(other.publishToken) }), 403, 'forbidden');
    const [, otherSignature] = other.publishToken.split('.') as [string, string];
    expectError(await request(url, { json: event, headers: bearer(`${job.jobId}.${otherSignature}`) }), 401, 'unauthorized');
    // Who before what: a bad body from someone without the token is still a 401.
    expectError(await request(url, { json: { nope: true } }), 401, 'unauthorized');
    expect(await system.redis.xlen(keys.events(job.jobId))).toBe(1);
  });

  it('never gives the publish token to an Idempotency-Key replay: a stranger replaying it cannot publish (auth off)', async () => {
    const body = { kind: 'external', title: 'Nightly import' };
    const headers = { 'Idempotency-Key': `nightly-import-${Date.now()}` };
    const producer = await createExternal(a, body, headers);
    const replay = await request(`${b}/v1/jobs`, { json: body, headers });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({
      jobId: producer.jobId,
      status: 'queued',
      // The link is no secret; the token is.
      links: {
        self: `/v1/jobs/${producer.jobId}`,
        events: `/v1/jobs/${producer.jobId}/events`,
        publish: `/v1/jobs/${producer.jobId}/events`,
      },
    });
    expect(JSON.stringify(replay.body)).not.toContain(producer.publishToken.split('.')[1]);
    // What the stranger has (the job id, the link) does not let it publish: a forged `done` is refused.
    const forged = { status: 'done', result: 'forged by someone else' };
    expectError(await request(`${a}${replay.body.links.publish}`, { json: forged }), 401, 'unauthorized');
    expectError(await request(`${a}${replay.body.links.publish}`, { json: forged, headers: bearer(producer.jobId) }), 401, 'unauthorized');
    expect((await request(`${a}/v1/jobs/${producer.jobId}`)).body).toMatchObject({ status: 'queued' });
    // The producer, with the token of its 202, still publishes.
    expect((await producer.publish(b, { status: 'done', result: 'imported' })).status).toBe(201);
  });

  it('makes a retried publish with the same Idempotency-Key return the same event id, adding nothing', async () => {
    const job = await createExternal(a);
    const event = { status: 'processing', progress: 30, message: 'Chunk 3 of 10' };
    const first = await job.publish(a, event, { 'Idempotency-Key': 'chunk-3' });
    expect(first.status).toBe(201);
    const retried = await job.publish(b, event, { 'Idempotency-Key': 'chunk-3' });
    expect(retried.status).toBe(200);
    expect(retried.body.eventId).toBe(first.body.eventId);
    expect(await system.redis.xlen(keys.events(job.jobId))).toBe(2);
    // The terminal publish too, retried after it ended the job.
    const done = await job.publish(a, { status: 'done', result: 'r' }, { 'Idempotency-Key': 'the-end' });
    const doneAgain = await job.publish(b, { status: 'done', result: 'r' }, { 'Idempotency-Key': 'the-end' });
    expect([done.status, doneAgain.status]).toEqual([201, 200]);
    expect(doneAgain.body.eventId).toBe(done.body.eventId);
    // Keys are the job's own: the same key in another job is a new publish.
    const other = await createExternal(a);
    expect((await other.publish(a, event, { 'Idempotency-Key': 'chunk-3' })).status).toBe(201);
  });

  it('lets a DELETE end the job cancelled; the producer learns it from its next publish (409)', async () => {
    const job = await createExternal(a);
    const watcher = SseClient.open(`${a}/v1/jobs/${job.jobId}/events`);
    await job.publish(a, { status: 'processing', progress: 25, message: 'Working' });
    const cancelled = await request(`${b}/v1/jobs/${job.jobId}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', progress: 25 });
    await watcher.finished();
    expect(watcher.events.map((event) => event.json.status)).toEqual(['queued', 'processing', 'cancelled']);
    const next = await job.publish(a, { status: 'processing', progress: 30, message: 'Working' });
    expectError(next, 409, 'already_finished');
    expect(next.body.error.details).toMatchObject({ status: 'cancelled' });
    expectError(await request(`${b}/v1/jobs/${job.jobId}`, { method: 'DELETE' }), 409, 'already_finished');
  });

  it('binds a publish token to its job: for any other (one Herald runs, one that does not exist) it is 403', async () => {
    const job = await createExternal(a);
    expectError(
      await request(`${a}/v1/jobs/no-such-job-0123456789a/events`, { json: { status: 'processing' }, headers: bearer(job.publishToken) }),
      403,
      'forbidden',
    );
    const summarize = await submit(a, BEES);
    expect(summarize.body.publishToken).toBeUndefined();
    expect(summarize.body.links.publish).toBeUndefined();
    // Its id with an external job's token: the token is another job's.
    expectError(
      await request(`${a}/v1/jobs/${summarize.body.jobId}/events`, { json: { status: 'processing' }, headers: bearer(job.publishToken) }),
      403,
      'forbidden',
    );
  });
});

describe('job kinds', () => {
  let system: TestSystem;
  let a: string;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1 });
    a = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('refuses an unknown kind with 400 naming the known ones, and bad external bodies', async () => {
    // A kind no worker registered (docs/api.md, "Kinds"), whatever the body holds.
    const unknown = await request(`${a}/v1/jobs`, { json: { kind: 'transcode', text: BEES } });
    expectError(unknown, 400, 'unknown_kind');
    expect(unknown.body.error.message).toContain('registered: external, summarize');
    for (const kind of ['', 42, null, 'Not A Kind']) {
      const answer = await request(`${a}/v1/jobs`, { json: { kind, text: BEES } });
      expectError(answer, 400, 'invalid_request');
      expect(JSON.stringify(answer.body.error)).toContain('kind must be summarize, external or a registered kind (GET /v1/kinds)');
    }
    const cases: unknown[] = [
      { kind: 'external', text: BEES }, // a summarize field
      { kind: 'external', title: '' },
      { kind: 'external', title: 'x'.repeat(201) },
      { kind: 'external', metadata: 'not an object' },
      { kind: 'external', metadata: { blob: 'x'.repeat(16 * 1024) } }, // over MAX_METADATA_BYTES (16384)
      { kind: 'summarize', title: 'no titles here', text: BEES },
    ];
    for (const body of cases) expectError(await request(`${a}/v1/jobs`, { json: body }), 400, 'invalid_request');
    const big = await request(`${a}/v1/jobs`, { json: { kind: 'external', metadata: { blob: 'x'.repeat(16 * 1024) } } });
    expect(JSON.stringify(big.body.error.details)).toContain('metadata must be at most MAX_METADATA_BYTES (16384) bytes');
    expect(await keysMatching(system.redis, 'herald:{*}:snapshot')).toEqual([]);
  });

  it.each([1_000, 5_000, 50_000])(
    'refuses metadata nested %i levels deep with 400 naming the field and the bound, not a 500',
    async (depth) => {
      const body = `{"kind":"external","metadata":{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}}`;
      const answer = await request(`${a}/v1/jobs`, { body, headers: { 'content-type': 'application/json' } });
      expectError(answer, 400, 'invalid_request');
      expect(answer.body.error.details).toEqual([{ path: 'metadata', message: 'metadata must nest at most 32 levels deep' }]);
      expect(await keysMatching(system.redis, 'herald:{*}:snapshot')).toEqual([]);
    },
  );

  it('runs summarize through the kind interface, with or without `kind` in the body', async () => {
    for (const body of [{ text: BEES }, { kind: 'summarize', text: BEES, options: { maxSentences: 1 } }]) {
      const { body: accepted } = await request(`${a}/v1/jobs`, { json: body });
      const watcher = SseClient.open(`${a}/v1/jobs/${accepted.jobId}/events`);
      await watcher.finished();
      const last = watcher.events.at(-1)!.json;
      expect(last).toMatchObject({ status: 'done', progress: 100, message: 'Summary ready' });
      // Herald's own kind keeps answering text.
      expect(last.result).toEqual(expect.any(String));
      expect((last.result as string).length).toBeGreaterThan(0);
      expect((await request(`${a}/v1/jobs/${accepted.jobId}`)).body.kind).toBe('summarize');
    }
  });

  it('fails a queued job of a kind no worker runs at once, with unknown_kind (a job queued by another version)', async () => {
    // What an older or newer API could have queued: a kind this worker does not know.
    const connection = bullConnection(redisSettings(), { name: 'test:queue' });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: queuePrefix });
    const created = await request(`${a}/v1/jobs`, { json: { kind: 'external' } });
    const jobId = created.body.jobId as string;
    // Its events exist (made external); the queue now also holds it as if it were of kind "transcode".
    await queue.add('transcode', { file: 'a.mov' }, { jobId, attempts: 3 });
    await queue.close();
    releaseBullConnection(connection);
    const watcher = SseClient.open(`${a}/v1/jobs/${jobId}/events`);
    await watcher.finished();
    expect(watcher.events.at(-1)!.json).toMatchObject({ status: 'error', error: { code: 'unknown_kind' } });
    expect(watcher.events.filter((event) => event.json.status === 'processing')).toEqual([]); // not retried
  });
});

describe(`a producer that goes silent`, () => {
  let system: TestSystem;
  let a: string;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, env: { EXTERNAL_IDLE_TIMEOUT_SECONDS: '1' } });
    a = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('ends its job with producer_timeout after EXTERNAL_IDLE_TIMEOUT_SECONDS without an event; one that speaks is kept', async () => {
    const started = Date.now();
    const silent = await createExternal(a);
    const talkative = await createExternal(a);
    const watcher = SseClient.open(`${a}/v1/jobs/${silent.jobId}/events`);
    // The talkative one publishes every 400 ms for 2.4 s: never 1 s of silence.
    for (let i = 1; i <= 6; i += 1) {
      await sleep(400);
      expect((await talkative.publish(a, { status: 'processing', progress: i * 10, message: `step ${i}` })).status).toBe(201);
    }
    await watcher.finished(10_000);
    const last = watcher.events.at(-1)!.json;
    expect(last).toMatchObject({ status: 'error', error: { code: 'producer_timeout', message: expect.stringContaining('1 s') } });
    expect(last.ts - started).toBeGreaterThanOrEqual(1000);
    expect((await request(`${a}/v1/jobs/${talkative.jobId}`)).body.status).toBe('processing');
    // Its producer's next publish learns the job is over.
    expectError(await silent.publish(a, { status: 'processing', progress: 5 }), 409, 'already_finished');
    // The talkative one goes quiet in turn, and ends the same way.
    const quiet = SseClient.open(`${a}/v1/jobs/${talkative.jobId}/events`);
    await quiet.finished(10_000);
    expect(quiet.events.at(-1)!.json).toMatchObject({ status: 'error', progress: 60, error: { code: 'producer_timeout' } });
  });
});

describe('a producer’s writes are bounded: its text, each event, its Stream’s bytes', () => {
  let system: TestSystem;
  let a: string;
  const BOUND = 16_384;
  beforeAll(async () => {
    // No rate limit here (hostile-http.test.ts tests it); a short STREAM_MAXLEN so that trimming happens.
    const env = {
      MAX_TEXT_CHARS: '1000',
      MAX_DELTA_CHARS: '600',
      MAX_EVENT_BYTES: '4096',
      MAX_JOB_STREAM_BYTES: String(BOUND),
      PUBLISH_RATE_PER_JOB: '0',
      STREAM_MAXLEN: '10',
    };
    system = await startSystem({ replicas: 1, workers: 0, env });
    a = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  /** What a refused publish must leave as it was: the snapshot, the Stream, the text. */
  const stateOf = async (job: External) => ({
    snapshot: (await request(`${a}/v1/jobs/${job.jobId}`)).body,
    stream: await system.redis.xrange(keys.events(job.jobId), '-', '+'),
  });
  /** The bytes of event JSON the job's Stream holds, entry by entry. */
  const heldBytes = async (job: External) =>
    (await new EventReader(system.redis).eventsAfter(job.jobId, null, 100_000)).reduce(
      (sum, event) => sum + Buffer.byteLength(event.data),
      0,
    );
  /** A message whose JSON string takes exactly `bytes` more bytes than "" does: control characters are 6 (\u0001), 'a' 1. */
  const messageOf = (bytes: number) => '\u0001'.repeat(Math.floor(bytes / 6)) + 'a'.repeat(bytes % 6);

  it('stops the text at MAX_TEXT_CHARS: the review’s appending producer gets 413 there, and the job is untouched', async () => {
    // The review's reproduction (60 appending deltas of control characters took `partial` to
    // 6,000,000 units, 60 × MAX_TEXT_CHARS), at this file's scale.
    const job = await createExternal(a);
    const delta = '\u0001'.repeat(400);
    const statuses: number[] = [];
    for (let offset = 0; offset < 60 * 400; offset += 400) {
      const answer = await job.publish(a, { status: 'processing', delta, offset });
      statuses.push(answer.status);
      if (answer.status === 413) {
        expectError(answer, 413, 'payload_too_large');
        expect(answer.body.error.message).toContain('MAX_TEXT_CHARS (1000');
      }
    }
    expect(statuses).toEqual([201, 201, ...Array(58).fill(413)]);
    const before = await stateOf(job);
    expect(before.snapshot.partial).toBe(delta.repeat(2));
    // Up to the bound exactly, appending or rewriting, it goes through; one unit more does not.
    expect((await job.publish(a, { status: 'processing', delta: 'b'.repeat(200), offset: 800 })).status).toBe(201);
    expectError(await job.publish(a, { status: 'processing', delta: 'c', offset: 1000 }), 413, 'payload_too_large');
    expectError(await job.publish(a, { status: 'processing', delta: 'c'.repeat(600), offset: 401 }), 413, 'payload_too_large');
    expect((await job.publish(a, { status: 'processing', delta: 'c'.repeat(600), offset: 400 })).status).toBe(201);
    expect((await request(`${a}/v1/jobs/${job.jobId}`)).body.partial).toBe(delta + 'c'.repeat(600));
    expect(await system.redis.strlen(keys.text(job.jobId))).toBe(1000);
    // A resync (here for a cursor from the future) carries the text as the snapshot does.
    const resynced = SseClient.open(`${a}/v1/jobs/${job.jobId}/events`, { 'Last-Event-ID': '9999999999999-0' });
    await resynced.waitFor((client) => client.events.length === 1);
    expect(resynced.events[0]!.json).toMatchObject({ resync: true, partial: delta + 'c'.repeat(600) });
    resynced.close();
    // The end deletes the text, as it dropped `partial`.
    expect((await job.publish(a, { status: 'done', result: 'ok' })).status).toBe(201);
    expect(await system.redis.exists(keys.text(job.jobId))).toBe(0);
    expect((await request(`${a}/v1/jobs/${job.jobId}`)).body.partial).toBeUndefined();
  });

  it('bounds one event: delta by MAX_DELTA_CHARS, its JSON by MAX_EVENT_BYTES with escapes counted, result aside', async () => {
    const job = await createExternal(a);
    const tooLong = await job.publish(a, { status: 'processing', delta: 'a'.repeat(601), offset: 0 });
    expectError(tooLong, 413, 'payload_too_large');
    expect(tooLong.body.error.message).toContain('MAX_DELTA_CHARS (600)');
    expect((await job.publish(a, { status: 'processing', progress: 1, delta: 'a'.repeat(600), offset: 0 })).status).toBe(201);

    // The event's JSON as stored, to the byte: one that fills MAX_EVENT_BYTES passes, one byte more does not.
    const empty = await job.publish(a, { status: 'processing', progress: 1, message: '' });
    const [, fields] = (await system.redis.xrange(keys.events(job.jobId), empty.body.eventId, empty.body.eventId))[0]!;
    const base = Buffer.byteLength(fields[fields.indexOf('d') + 1]!);
    const before = await stateOf(job);
    const over = await job.publish(a, { status: 'processing', progress: 1, message: messageOf(4096 - base + 1) });
    expectError(over, 413, 'payload_too_large');
    expect(over.body.error.message).toContain('MAX_EVENT_BYTES (4096');
    expect(await stateOf(job)).toEqual(before);
    // 1000 characters (the message's own limit) of control characters are 6,000 bytes once escaped.
    expectError(await job.publish(a, { status: 'processing', message: '\u0001'.repeat(1000) }), 413, 'payload_too_large');
    const fits = await job.publish(a, { status: 'processing', progress: 1, message: messageOf(4096 - base) });
    expect(fits.status).toBe(201);
    const [, stored] = (await system.redis.xrange(keys.events(job.jobId), fits.body.eventId, fits.body.eventId))[0]!;
    expect(Buffer.byteLength(stored[stored.indexOf('d') + 1]!)).toBe(4096);
    // `result` is MAX_TEXT_CHARS's: one character more is a 413 naming it, like the other bounds,
    // and nothing is published (the job does not end); 1000 escaped characters (6,000 bytes) end the job.
    const watcher = SseClient.open(`${a}/v1/jobs/${job.jobId}/events`, { 'Last-Event-ID': fits.body.eventId });
    const unchanged = await stateOf(job);
    const longResult = await job.publish(a, { status: 'done', result: 'a'.repeat(1001) });
    expectError(longResult, 413, 'payload_too_large');
    expect(longResult.body.error.message).toContain('MAX_TEXT_CHARS (1000)');
    expect(await stateOf(job)).toEqual(unchanged);
    const ended = await job.publish(a, { status: 'done', result: '\u0001'.repeat(1000) });
    expect(ended.status).toBe(201);
    await watcher.finished();
    expect(watcher.events.map((event) => [event.id, (event.json.result as string | undefined)?.length])).toEqual([
      [ended.body.eventId, 1000],
    ]);
  });

  it('bounds the Stream’s bytes exactly, whatever STREAM_MAXLEN trimmed; the terminal event still goes through', async () => {
    const job = await createExternal(a);
    // 200 small events: STREAM_MAXLEN 10 trims the Stream's front (whole nodes), which the
    // publish script never sees; they add more than BOUND in all, and all pass.
    for (let i = 0; i < 200; i += 1) expect((await job.publish(a, { status: 'processing', message: '' })).status).toBe(201);
    expect(await system.redis.xlen(keys.events(job.jobId))).toBeLessThan(100);
    const base = await sizeOfLast(job);
    // Fill up to the last few KB with 2.4 KB messages, then probe the bound to the byte (a
    // refused publish writes nothing, so nothing is trimmed between the two probes).
    while (BOUND - (await heldBytes(job)) > 3000) {
      expect((await job.publish(a, { status: 'processing', message: messageOf(2400) })).status).toBe(201);
    }
    const room = BOUND - (await heldBytes(job));
    const before = await stateOf(job);
    const over = await job.publish(a, { status: 'processing', message: messageOf(room - base + 1) });
    expectError(over, 413, 'payload_too_large');
    expect(over.body.error.message).toContain(`MAX_JOB_STREAM_BYTES (${BOUND}`);
    expect(await stateOf(job)).toEqual(before);
    expect((await job.publish(a, { status: 'processing', message: messageOf(room - base) })).status).toBe(201);
    expect(await heldBytes(job)).toBeLessThanOrEqual(BOUND);
    // Full, the job can still end: its producer's terminal event is not refused for the Stream's size.
    await fillUp(job, base);
    const done = await job.publish(a, { status: 'done', result: 'the end', message: messageOf(2400) });
    expect(done.status).toBe(201);
    expect((await request(`${a}/v1/jobs/${job.jobId}`)).body).toMatchObject({ status: 'done', result: 'the end' });
    expect(await heldBytes(job)).toBeGreaterThan(BOUND);
  });

  it('never refuses Herald’s own events for size: a cancel ends a job whose Stream is full', async () => {
    const job = await createExternal(a);
    expect((await job.publish(a, { status: 'processing', message: '' })).status).toBe(201);
    await fillUp(job, await sizeOfLast(job));
    const cancelled = await request(`${a}/v1/jobs/${job.jobId}`, { method: 'DELETE' });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.status).toBe('cancelled');
    expect(await heldBytes(job)).toBeGreaterThan(BOUND);
  });

  /** The last event's size; its message must be ''. */
  async function sizeOfLast(job: External): Promise<number> {
    const [[, fields]] = (await system.redis.xrevrange(keys.events(job.jobId), '+', '-', 'COUNT', 1)) as [[string, string[]]];
    return Buffer.byteLength(fields[fields.indexOf('d') + 1]!);
  }

  /** Publishes until even the smallest event (`base` bytes, message '') is refused for the Stream's size. */
  async function fillUp(job: External, base: number): Promise<void> {
    while (BOUND - (await heldBytes(job)) >= base) {
      const room = BOUND - (await heldBytes(job));
      expect((await job.publish(a, { status: 'processing', message: messageOf(Math.min(room - base, 3000)) })).status).toBe(201);
    }
    expectError(await job.publish(a, { status: 'processing', message: '' }), 413, 'payload_too_large');
  }
});
