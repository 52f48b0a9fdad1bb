import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventReader, topics } from '@herald/shared';
import { HeraldError, createClient, type HeraldClient } from '../../packages/client/src/index.ts';
import { WHOLE_HISTORY } from '../support/assertions.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// @herald/client (its sources) against Herald itself: every endpoint it covers, on two replicas.
let system: TestSystem;
let client: HeraldClient;
let other: HeraldClient;

beforeAll(async () => {
  system = await startSystem({ env: { STAGE_DELAY_MS: '20' } });
  client = createClient({ baseUrl: system.apis[0]!.url });
  other = createClient({ baseUrl: system.apis[1]!.url });
});
afterAll(() => system.close());

const stored = (topic: string) => new EventReader(system.redis).eventsAfter(topic, null, WHOLE_HISTORY);

describe('@herald/client against Herald', () => {
  it('submits, watches a job to its end exactly, reads it, and refuses to cancel a finished one', async () => {
    const { jobId, status } = await client.submit({ text: BEES, options: { maxSentences: 2 } });
    expect(status).toBe('queued');
    const seen = [];
    for await (const item of other.watch(jobId)) seen.push(item);
    expect(seen.map((item) => item.id)).toEqual((await stored(jobId)).map((event) => event.id));
    const done = seen.at(-1)!.event;
    expect(done.status).toBe('done');
    expect(await client.job(jobId)).toMatchObject({ jobId, status: 'done', result: done.result });
    await expect(client.cancel(jobId)).rejects.toMatchObject({ status: 409, code: 'already_finished' });
    await expect(client.job('AAAAAAAAAAAAAAAAAAAAAA')).rejects.toBeInstanceOf(HeraldError);
  });

  it('watches a batch on its stream and several jobs on one connection', async () => {
    const { batchId, jobIds } = await client.submitBatch({ items: [{ text: BEES }, { text: `${BEES} Again.` }] });
    const batch = [];
    for await (const item of other.watchBatch(batchId)) batch.push(item);
    expect(batch.map((item) => item.id)).toEqual((await stored(topics.batch(batchId))).map((event) => event.id));
    const last = batch.at(-1)!;
    expect(last).toMatchObject({ kind: 'batch', event: { batchId, status: 'done', progress: 100 } });
    expect((await client.batch(batchId)).jobs.map((job) => job.jobId)).toEqual(jobIds);

    const many = [];
    for await (const item of client.watchJobs(jobIds)) many.push(item);
    for (const jobId of jobIds) {
      expect(many.filter((item) => item.event.jobId === jobId).map((item) => item.event)).toEqual(
        (await stored(jobId)).map((event) => JSON.parse(event.data)),
      );
    }
  });

  it('publishes into an external job with its publish token, idempotently', async () => {
    const { jobId, publishToken } = await client.submit({ kind: 'external', title: 'import' });
    const first = await client.publish(
      jobId,
      { status: 'processing', progress: 40, message: 'Halfway' },
      { publishToken: publishToken!, idempotencyKey: 'p-1' },
    );
    const again = await client.publish(
      jobId,
      { status: 'processing', progress: 40, message: 'Halfway' },
      { publishToken: publishToken!, idempotencyKey: 'p-1' },
    );
    expect(again.eventId).toBe(first.eventId);
    await client.publish(jobId, { status: 'done', result: 'imported' }, { publishToken: publishToken! });
    const seen = [];
    for await (const item of client.watch(jobId)) seen.push(item.event.status);
    expect(seen).toEqual(['queued', 'processing', 'done']);
  });

  it('watches a tagged job through a resync, whose state carries the tags beside the event', async () => {
    const { jobId, publishToken } = await client.submit({ kind: 'external', tags: ['user:7', 'resync'] });
    const seen: { status: string; resync: boolean }[] = [];
    // A cursor from the future: the stream answers with the job's state, marked resync.
    for await (const item of client.watch(jobId, { lastEventId: '9999999999999-0' })) {
      seen.push({ status: item.event.status, resync: item.resync });
      if (seen.length === 1) await other.publish(jobId, { status: 'done', result: 'ok' }, { publishToken: publishToken! });
    }
    expect(seen).toEqual([
      { status: 'queued', resync: true },
      { status: 'done', resync: false },
    ]);
  });

  it('lists jobs by tag and status, a page at a time (jobs), and says what it refuses', async () => {
    const tag = `client:${Date.now()}:${Math.random().toString(36).slice(2)}`;
    const made: string[] = [];
    for (let i = 0; i < 3; i += 1) made.push((await client.submit({ kind: 'external', tags: [tag] })).jobId);
    await client.cancel(made[1]!);
    const first = await client.jobs({ tag, limit: 2 });
    expect(first.jobs.map((job) => job.jobId)).toEqual([made[2], made[1]]);
    expect(first.jobs[0]!.tags).toEqual([tag]);
    const second = await other.jobs({ tag, limit: 2, cursor: first.nextCursor });
    expect(second).toEqual({ jobs: [expect.objectContaining({ jobId: made[0], status: 'queued' })], nextCursor: null });
    expect((await client.jobs({ tag, status: 'cancelled' })).jobs.map((job) => job.jobId)).toEqual([made[1]]);
    const refused = await client.jobs({ limit: 101 }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HeraldError);
    expect(refused).toMatchObject({ status: 400, code: 'invalid_request' });
  });
});
