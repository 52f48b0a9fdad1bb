import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds, isTerminal, parseStreamId } from '@herald/contract';
import { EventReader, keys, topics } from '@herald/shared';
import { WHOLE_HISTORY, expectError, expectExactHistory } from '../support/assertions.ts';
import { runEntry, waitForOk } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { request, submit } from '../support/http.ts';
import { keysMatching, redisEnv } from '../support/redis-target.ts';
import { SseClient, type ReceivedEvent } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Batches, several jobs on one connection, typed events and old cursors (docs/api.md), on two
// API replicas and two workers; the last test kills (SIGKILL) a replica process mid-batch.
let system: TestSystem;
let a: string;
let b: string;

const MAX_ITEMS = 25;
const MAX_JOBS = 5;

beforeAll(async () => {
  system = await startSystem({
    workers: 2,
    env: { STAGE_DELAY_MS: '40', MAX_BATCH_ITEMS: String(MAX_ITEMS), MAX_JOBS_PER_STREAM: String(MAX_JOBS), WORKER_CONCURRENCY: '8' },
  });
  [a, b] = system.apis.map((api) => api.url) as [string, string];
});
afterAll(() => system.close());

const items = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ text: `${BEES} This is text number ${i}.`, options: { maxSentences: 2 } }));

async function submitBatch(n: number, base = a): Promise<{ batchId: string; jobIds: string[] }> {
  const response = await request(`${base}/v1/batches`, { json: { items: items(n) } });
  expect(response.status).toBe(202);
  return response.body;
}

/** The batch stream's promise: exactly the batch's Stream after the cursor, and each job's events exactly its own Stream's. */
async function expectExactBatch(batchId: string, events: readonly ReceivedEvent[], after: string | null = null): Promise<void> {
  const stored = await new EventReader(system.redis).eventsAfter(topics.batch(batchId), after, WHOLE_HISTORY);
  expect(events.map((event) => event.id)).toEqual(stored.map((event) => event.id));
  expect(events.map((event) => event.data)).toEqual(stored.map((event) => event.data));
  for (let i = 1; i < events.length; i += 1) {
    expect(compareStreamIds(parseStreamId(events[i]!.id!)!, parseStreamId(events[i - 1]!.id!)!)).toBeGreaterThan(0);
  }
}

const batchEvents = (events: readonly ReceivedEvent[]) => events.filter((event) => (event.json as { jobId?: string }).jobId === undefined);

describe('POST /v1/batches', () => {
  it('answers 202 with the batch, its jobs in order, its links and a Location', async () => {
    const response = await request(`${a}/v1/batches`, { json: { items: items(3) } });
    expect(response.status).toBe(202);
    const { batchId } = response.body;
    expect(batchId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(response.headers.get('location')).toBe(`/v1/batches/${batchId}`);
    expect(response.body).toEqual({
      batchId,
      status: 'queued',
      jobIds: [`${batchId}~0`, `${batchId}~1`, `${batchId}~2`],
      links: { self: `/v1/batches/${batchId}`, events: `/v1/batches/${batchId}/events` },
    });
    // Every job is an ordinary job as well.
    const job = await request(`${b}/v1/jobs/${batchId}~1`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ jobId: `${batchId}~1`, kind: 'summarize' });
  });

  it('checks the whole body before anything is queued: one bad item is a 400 naming it, and nothing exists', async () => {
    const before = await keysMatching(system.redis, 'herald:*');
    const bad = items(4);
    bad[2] = { text: '   ', options: { maxSentences: 2 } };
    const response = await request(`${a}/v1/batches`, { json: { items: bad } });
    expectError(response, 400, 'invalid_request');
    expect(JSON.stringify(response.body.error.details)).toContain('items.2.text');
    expect((await keysMatching(system.redis, 'herald:*')).sort()).toEqual(before.sort());
  });

  it('takes 1 to MAX_BATCH_ITEMS items, with the per-item limits of a job', async () => {
    expectError(await request(`${a}/v1/batches`, { json: { items: [] } }), 400, 'invalid_request');
    const tooMany = await request(`${a}/v1/batches`, { json: { items: items(MAX_ITEMS + 1) } });
    expectError(tooMany, 400, 'invalid_request');
    expect(JSON.stringify(tooMany.body.error)).toContain('MAX_BATCH_ITEMS');
    expectError(
      await request(`${a}/v1/batches`, { json: { items: [{ text: BEES, options: { maxSentences: 0 } }] } }),
      400,
      'invalid_request',
    );
    expectError(await request(`${a}/v1/batches`, { json: { items: items(1), extra: 1 } }), 400, 'invalid_request');
    expectError(
      await request(`${a}/v1/batches`, { body: 'items', headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    );
    expectError(
      await request(`${a}/v1/batches`, { json: { items: items(1), callbackUrl: 'http://127.0.0.1:9/x' } }),
      400,
      'invalid_request',
    );
  });

  it('refuses a compressed batch with 415 before reading it, and creates nothing', async () => {
    const before = await keysMatching(system.redis, 'herald:*');
    const response = await fetch(`${a}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ items: items(MAX_ITEMS) })),
    });
    expectError({ status: response.status, body: await response.json() }, 415, 'unsupported_media_type');
    expect((await keysMatching(system.redis, 'herald:*')).sort()).toEqual(before.sort());
  });

  it('replays an Idempotency-Key with the same batch, apart from the same key for a job', async () => {
    const body = { items: items(2) };
    const headers = { 'Idempotency-Key': 'batch-key-1' };
    const first = await request(`${a}/v1/batches`, { json: body, headers });
    const again = await request(`${b}/v1/batches`, { json: body, headers });
    expect([first.status, again.status]).toEqual([202, 200]);
    expect(again.body.batchId).toBe(first.body.batchId);
    expect(again.body.jobIds).toEqual(first.body.jobIds);
    expectError(await request(`${a}/v1/batches`, { json: { items: items(3) }, headers }), 409, 'idempotency_conflict');
    expect((await submit(a, BEES, undefined, headers)).status).toBe(202);
  });
});

describe('watching a batch', () => {
  it('streams every job and the overall figure on one connection, exactly, to the batch’s end', async () => {
    const { batchId, jobIds } = await submitBatch(8);
    const watcher = await SseClient.open(`${b}/v1/batches/${batchId}/events`).finished(30_000);
    expect(watcher.status).toBe(200);
    await expectExactBatch(batchId, watcher.events);
    // Each job's events, picked out of the batch's stream, are exactly its own stream's.
    for (const jobId of jobIds) {
      const own = watcher.events.filter((event) => event.json.jobId === jobId);
      const stored = await new EventReader(system.redis).eventsAfter(jobId, null, WHOLE_HISTORY);
      expect(own.map((event) => event.data)).toEqual(stored.map((event) => event.data));
      for (const event of own) expect(event.json).toMatchObject({ jobId, batchId });
    }
    // The batch's own events: no jobId, overall progress never back, the terminal one last.
    const overall = batchEvents(watcher.events).map((event) => event.json as unknown as Record<string, any>);
    expect(overall[0]).toMatchObject({ batchId, status: 'queued', progress: 0 });
    for (let i = 1; i < overall.length; i += 1) expect(overall[i]!.progress).toBeGreaterThanOrEqual(overall[i - 1]!.progress);
    const last = watcher.events.at(-1)!.json as unknown as Record<string, any>;
    expect(last).toEqual({
      batchId,
      status: 'done',
      progress: 100,
      counts: { queued: 0, processing: 0, done: 8, error: 0, cancelled: 0 },
      ts: expect.any(Number),
    });
    // It came after every job's end.
    const ends = watcher.events.filter((event) => event.json.jobId !== undefined && isTerminal(event.json.status));
    expect(ends).toHaveLength(8);
    expect(watcher.events.indexOf(ends.at(-1)!)).toBeLessThan(watcher.events.length - 1);
  });

  it('shows the batch’s state, counts and each job from either replica', async () => {
    const { batchId, jobIds } = await submitBatch(3);
    const watched = await SseClient.open(`${a}/v1/batches/${batchId}/events`).finished(30_000);
    const snapshot = await request(`${b}/v1/batches/${batchId}`);
    expect(snapshot.status).toBe(200);
    expect(snapshot.body).toEqual({
      batchId,
      status: 'done',
      progress: 100,
      counts: { queued: 0, processing: 0, done: 3, error: 0, cancelled: 0 },
      jobs: jobIds.map((jobId) => ({ jobId, status: 'done', progress: 100 })),
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
      lastEventId: watched.lastEventId,
    });
    expectError(await request(`${a}/v1/batches/AAAAAAAAAAAAAAAAAAAAAA`), 404, 'not_found');
    expectError(await request(`${a}/v1/batches/nope`), 404, 'not_found');
  });

  it('resumes the whole stream with one Last-Event-ID on the other replica, and answers 204 at its end', async () => {
    const { batchId } = await submitBatch(5);
    const first = SseClient.open(`${a}/v1/batches/${batchId}/events`);
    await first.waitFor((client) => client.events.length >= 12, 20_000);
    first.close();
    const cursor = first.lastEventId!;
    const rest = await SseClient.open(`${b}/v1/batches/${batchId}/events`, { 'Last-Event-ID': cursor }).finished(30_000);
    await expectExactBatch(batchId, rest.events, cursor);
    await expectExactBatch(batchId, [...first.events, ...rest.events]);
    expect((await fetch(`${a}/v1/batches/${batchId}/events`, { headers: { 'Last-Event-ID': rest.lastEventId! } })).status).toBe(204);
  });

  it('cancels every job that has not ended; the batch ends cancelled, and a second DELETE is 409', async () => {
    const { batchId, jobIds } = await submitBatch(20);
    const watcher = SseClient.open(`${b}/v1/batches/${batchId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.status === 'processing'), 20_000);
    const cancel = await request(`${a}/v1/batches/${batchId}`, { method: 'DELETE' });
    expect(cancel.status).toBe(202);
    await watcher.finished(30_000);
    const last = watcher.events.at(-1)!.json as unknown as Record<string, any>;
    expect(last).toMatchObject({ batchId, status: 'cancelled', progress: 100 });
    expect(last.counts.cancelled).toBeGreaterThan(0);
    expect(last.counts.cancelled + last.counts.done + last.counts.error).toBe(20);
    for (const jobId of jobIds) expect(isTerminal((await request(`${a}/v1/jobs/${jobId}`)).body.status)).toBe(true);
    await expectExactBatch(batchId, watcher.events);
    expectError(await request(`${a}/v1/batches/${batchId}`, { method: 'DELETE' }), 409, 'already_finished');
  });
});

describe('several jobs on one connection', () => {
  it('streams each job in order, ends when all have ended, and resumes every job from a composite cursor on the other replica', async () => {
    const jobIds = await Promise.all(
      [0, 1, 2].map(async (i) => (await submit(a, `${BEES} Job ${i} here.`, { maxSentences: 2 })).body.jobId as string),
    );
    const list = jobIds.join(',');
    const first = SseClient.open(`${a}/v1/events?jobs=${list}`);
    await first.waitFor((client) => client.events.length >= 6, 20_000);
    first.close();
    const cursor = first.lastEventId!;
    expect(cursor.split(',')).toHaveLength(3);
    const rest = await SseClient.open(`${b}/v1/events?jobs=${list}`, { 'Last-Event-ID': cursor }).finished(30_000);
    expect(rest.status).toBe(200);
    const positions = cursor.split(',');
    for (const [i, jobId] of jobIds.entries()) {
      const before = first.events.filter((event) => event.json.jobId === jobId);
      const after = rest.events.filter((event) => event.json.jobId === jobId);
      const own = (events: ReceivedEvent[]) => events.map((event) => ({ ...event, id: ownId(event, jobIds) }));
      await expectExactHistory(system.redis, jobId, own(after), positions[i] === '0-0' ? null : positions[i]!);
      await expectExactHistory(system.redis, jobId, own([...before, ...after]));
    }
    expect((await fetch(`${a}/v1/events?jobs=${list}`, { headers: { 'Last-Event-ID': rest.lastEventId! } })).status).toBe(204);
  });

  it('refuses a bad list or cursor with 400, and an unknown job with 404', async () => {
    const { body } = await submit(a, BEES);
    const jobId = body.jobId as string;
    expectError(await request(`${a}/v1/events`), 400, 'invalid_request');
    expectError(await request(`${a}/v1/events?jobs=${jobId},${jobId}`), 400, 'invalid_request');
    const tooMany = Array.from({ length: MAX_JOBS + 1 }, () => jobId).join(',');
    expect((await request(`${a}/v1/events?jobs=${tooMany}`)).body.error.message).toContain('MAX_JOBS_PER_STREAM');
    const two = `${jobId},${(await submit(a, BEES)).body.jobId}`;
    expectError(await request(`${a}/v1/events?jobs=${two}`, { headers: { 'Last-Event-ID': '1-0' } }), 400, 'invalid_request');
    expectError(await request(`${a}/v1/events?jobs=${jobId},AAAAAAAAAAAAAAAAAAAAAA`), 404, 'not_found');
  });
});

describe('typed events', () => {
  it('names each event on ?typed=1 and on no stream without it', async () => {
    const { batchId, jobIds } = await submitBatch(2);
    const typed = await SseClient.open(`${a}/v1/batches/${batchId}/events?typed=1`).finished(30_000);
    expect(new Set(typed.events.map((event) => event.name))).toEqual(new Set(['progress', 'done', 'batch']));
    for (const event of typed.events)
      expect(event.name).toBe(event.json.jobId === undefined ? 'batch' : event.json.status === 'done' ? 'done' : 'progress');
    const job = await SseClient.open(`${b}/v1/jobs/${jobIds[0]}/events?typed=1`).finished();
    expect(job.events.at(-1)!.name).toBe('done');
    const plain = await SseClient.open(`${b}/v1/jobs/${jobIds[0]}/events`).finished();
    expect(plain.events.every((event) => event.name === undefined)).toBe(true);
    expect(plain.events.map((event) => event.data)).toEqual(job.events.map((event) => event.data));
    expectError(await request(`${a}/v1/jobs/${jobIds[0]}/events?typed=yes`), 400, 'invalid_request');
    // On several jobs' stream too, with the same names as on each job's own.
    const many = await SseClient.open(`${b}/v1/events?typed=1&jobs=${jobIds.join(',')}`).finished();
    for (const jobId of jobIds) {
      const names = (events: ReceivedEvent[]) => events.filter((event) => event.json.jobId === jobId).map((event) => event.name);
      expect(names(many.events)).toEqual(names(typed.events));
    }
  });
});

describe('old cursors', () => {
  it('start with the job as it stands, marked resync, when the history after the cursor was trimmed', async () => {
    const jobId = (await submit(a, BEES)).body.jobId as string;
    const all = await SseClient.open(`${a}/v1/jobs/${jobId}/events`).finished();
    // What STREAM_MAXLEN does to a long job, exactly rather than approximately.
    await system.redis.xtrim(keys.events(jobId), 'MAXLEN', 2);
    const resumed = await SseClient.open(`${b}/v1/jobs/${jobId}/events?typed=1`, { 'Last-Event-ID': all.events[0]!.id! }).finished();
    expect(resumed.events.map((event) => [event.name, event.id, event.json.status])).toEqual([['resync', all.lastEventId, 'done']]);
    const [resync] = resumed.events;
    expect(resync!.name).toBe('resync');
    expect(resync!.id).toBe(all.lastEventId);
    expect(resync!.json).toMatchObject({ jobId, status: 'done', progress: 100, resync: true, result: all.events.at(-1)!.json.result });
    // A cursor at an event the trimmed history still holds gets no resync.
    const tail = await SseClient.open(`${b}/v1/jobs/${jobId}/events`, { 'Last-Event-ID': all.events.at(-2)!.id! }).finished();
    expect(tail.events.map((event) => [event.id, 'resync' in event.json])).toEqual([[all.lastEventId, false]]);
  });
});

describe('old cursors on a batch', () => {
  it('resync the batch’s stream with its snapshot, then go on to its end', async () => {
    const { batchId, jobIds } = await submitBatch(3);
    const all = await SseClient.open(`${a}/v1/batches/${batchId}/events`).finished(30_000);
    await system.redis.xtrim(keys.batchEvents(batchId), 'MAXLEN', 3);
    const resumed = await SseClient.open(`${b}/v1/batches/${batchId}/events?typed=1`, { 'Last-Event-ID': all.events[1]!.id! }).finished();
    expect(resumed.events.map((event) => [event.name, event.id])).toEqual([['resync', all.lastEventId]]);
    expect(resumed.events[0]!.json).toMatchObject({
      batchId,
      status: 'done',
      progress: 100,
      resync: true,
      jobs: jobIds.map((jobId) => ({ jobId, status: 'done', progress: 100 })),
    });
  });
});

describe('a replica killed mid-batch', () => {
  it('loses nothing: the watcher goes on from its cursor on the other replica, exactly', async () => {
    // A replica process of its own, killed with SIGKILL: no drain, no retry hint, no goodbye.
    const port = await freePort();
    const replica = runEntry('apps/api/src/main.ts', {
      ...redisEnv(),
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      MAX_BATCH_ITEMS: String(MAX_ITEMS),
      MAX_JOBS_PER_STREAM: String(MAX_JOBS),
    });
    try {
      const doomed = `http://127.0.0.1:${port}`;
      await waitForOk(`${doomed}/healthz`);
      const { batchId } = await submitBatch(MAX_ITEMS);
      const first = SseClient.open(`${doomed}/v1/batches/${batchId}/events`);
      await first.waitFor((client) => client.events.length >= 30, 30_000);
      replica.process.kill('SIGKILL');
      expect(await replica.exited()).toBeNull();
      await first.done.catch(() => {}); // the connection is cut, not ended
      // Killed mid-batch: the batch had not ended, and nothing told the watcher to come back.
      expect(batchEvents(first.events).map((event) => (event.json as unknown as { status: string }).status)).not.toContain('done');
      expect(first.retries).toHaveLength(1); // the stream's opening one only
      const rest = await SseClient.open(`${b}/v1/batches/${batchId}/events`, { 'Last-Event-ID': first.lastEventId! }).finished(60_000);
      await expectExactBatch(batchId, [...first.events, ...rest.events]);
      expect((rest.events.at(-1)!.json as unknown as { status: string }).status).toBe('done');
    } finally {
      if (replica.process.exitCode === null && replica.process.signalCode === null) replica.process.kill('SIGKILL');
    }
  }, 90_000);
});

/** The job's own event id of an event read on a multi-job stream (its id is the composite cursor). */
function ownId(event: ReceivedEvent, jobIds: readonly string[]): string {
  return event.id!.split(',')[jobIds.indexOf(event.json.jobId)]!;
}
