import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchJobId, type ProgressUpdate } from '@herald/contract';
import {
  batchEventJson,
  type Broker,
  type BrokerEvent,
  createBroker,
  createLogger,
  EventPublisher,
  EventReader,
  JOB_EVENT_KEYS,
  jobEventJson,
  keys,
  type RedisClient,
  topics,
} from '@herald/shared';
import { toFanoutEvent } from '../../apps/api/src/stream/fanout-event.ts';
import { connectTestRedis, redisSettings } from '../support/redis-target.ts';

// An event's JSON goes through three hands that read or write its text without parsing it: the
// publisher (events/publisher.ts), the publish script (publish-6.lua) and an API replica's
// fan-out (stream/fanout-event.ts). Here real events go through all three, on the run's Redis,
// and what each hand has is checked against their one owner, events/event-layout.ts.

const newId = (): string => `a${randomBytes(16).toString('base64url').slice(0, 21)}`;

describe('an event’s JSON, published through the script, stored and fanned out, is laid out as events/event-layout.ts says', () => {
  let redis: RedisClient;
  let broker: Broker;
  const fannedOut = new Map<string, BrokerEvent[]>();
  // The events' ts: each step of a test moves it on, and every read of the clock in that step agrees.
  let clock = 1_800_000_000_000;
  const now = (): number => clock;
  const tick = (): number => ++clock;

  beforeAll(() => {
    redis = connectTestRedis('event-layout');
    broker = createBroker(redisSettings(), redis, new EventReader(redis), createLogger('test', 'silent'), { name: 'event-layout-fanout' });
    broker.listen({
      event: (topic, event) => fannedOut.set(topic, [...(fannedOut.get(topic) ?? []), event]),
      resync: () => {},
    });
  });
  afterAll(() => {
    broker.close();
    redis.disconnect();
  });

  const publisher = (): EventPublisher =>
    new EventPublisher(redis, {
      ttlSeconds: 60,
      streamMaxLen: 100,
      now,
      producerLimits: { maxTextChars: 1000, maxStreamChars: 1000, maxEventBytes: 10_000, maxStreamBytes: 100_000, ratePerSecond: 1000 },
    });

  const stored = async (topic: string): Promise<string[]> =>
    ((await redis.xrange(topics.stream(topic), '-', '+')) as [string, string[]][]).map(([, fields]) => fields[fields.indexOf('d') + 1]!);

  /** The fan-out's events of a topic once it has `count`: each as the hub hands it to every watcher. */
  async function fanned(topic: string, count: number): Promise<ReturnType<typeof toFanoutEvent>[]> {
    await expect.poll(() => fannedOut.get(topic)?.length ?? 0).toBe(count);
    return fannedOut.get(topic)!.map(toFanoutEvent);
  }

  /** Its keys are the module's, in the module's order, jobId first and ts last. */
  function expectJobKeyOrder(data: string): void {
    const present = Object.keys(JSON.parse(data) as object);
    expect(present).toEqual(JOB_EVENT_KEYS.filter((key) => present.includes(key)));
    expect([present[0], present.at(-1)]).toEqual(['jobId', 'ts']);
  }

  it('a job’s events, Herald’s and a producer’s, with text, a raised and a missing progress: stored, in the snapshot and fanned out as the module writes them', async () => {
    const jobId = newId();
    await broker.subscribe(jobId);
    const events = publisher();
    // Each body as the script will have written it (the progress it settles on), and its ts.
    const expected: { body: ProgressUpdate; ts: number }[] = [];
    const at = (body: ProgressUpdate): void => void expected.push({ body, ts: tick() });

    at({ status: 'queued', stage: 'queued', progress: 0, message: 'Waiting' });
    expect(
      await events.create(jobId, { status: 'queued', stage: 'queued', progress: 0, message: 'Waiting' }, { kind: 'external', owner: 'k' }),
    ).not.toBeNull();
    // Keys given in another order than the module's, and text that looks like the keys the fan-out looks for.
    const tricky = 'not "ts":1 nor "delta": nor {"batchId":';
    at({ status: 'processing', progress: 10, message: tricky, stage: 'writing', delta: 'Hello, ', offset: 0 });
    expect(
      await events.publishAsProducer(
        jobId,
        { offset: 0, delta: 'Hello, ', stage: 'writing', message: tricky, progress: 10, status: 'processing' },
        'key-hash',
      ),
    ).toMatchObject({ outcome: 'published' });
    // Without a progress: the script writes the job's own (10) into the JSON.
    at({ status: 'processing', progress: 10, message: '', delta: 'world', offset: 7 });
    expect(await events.publishAsProducer(jobId, { status: 'processing', message: '', delta: 'world', offset: 7 })).toMatchObject({
      outcome: 'published',
    });
    // Herald's own, lower: raised to the job's.
    at({ status: 'processing', progress: 10, message: tricky });
    await events.publish(jobId, { status: 'processing', progress: 3, message: tricky });
    at({ status: 'done', progress: 100, message: 'Done', stage: 'done', result: 'Hello, world' });
    await events.publish(jobId, { result: 'Hello, world', stage: 'done', message: 'Done', progress: 100, status: 'done' });

    const want = expected.map(({ body, ts }) => jobEventJson(jobId, null, body, ts));
    const inStream = await stored(jobId);
    expect(inStream).toEqual(want);
    for (const data of inStream) expectJobKeyOrder(data);
    expect(await redis.hget(keys.snapshot(jobId), 'event')).toBe(want.at(-1));
    const out = await fanned(jobId, want.length);
    expect(out.map((event) => event?.data)).toEqual(want);
    expect(out.map((event) => event?.ts)).toEqual(expected.map(({ ts }) => ts));
    expect(out.map((event) => event?.name)).toEqual(['progress', 'delta', 'delta', 'progress', 'done']);
    broker.unsubscribe(jobId);
  });

  it('a job’s fields reach the script whatever their text: quotes, control bytes, emoji, and a lone surrogate stored as UTF-8 stores it (U+FFFD)', async () => {
    const jobId = newId();
    const title = 'a "quoted" \\ title\u0000\n😀 and a lone \ud800 surrogate';
    const created = await publisher().create(
      jobId,
      { status: 'queued', stage: 'queued', progress: 0, message: 'Waiting' },
      { kind: 'external', title },
    );
    expect(created).not.toBeNull();
    expect(await redis.hget(keys.snapshot(jobId), 'title')).toBe(title.replace('\ud800', '\ufffd'));
  });

  it('a batch: its jobs’ events and its own, written by the script, are the module’s JSON, in its stream and fanned out', async () => {
    const batchId = newId();
    const jobIds = [batchJobId(batchId, 0), batchJobId(batchId, 1)];
    const topic = topics.batch(batchId);
    await broker.subscribe(topic);
    const events = publisher();
    const first: ProgressUpdate = { status: 'queued', stage: 'queued', progress: 0, message: 'Waiting' };
    const zero = { queued: 0, processing: 0, done: 0, error: 0, cancelled: 0 };

    const t0 = tick();
    expect(await events.createBatch(batchId, jobIds, first, { batch: {}, job: { kind: 'summarize' } })).toBe(true);
    const t1 = tick();
    await events.publish(jobIds[0]!, { status: 'processing', progress: 40, message: 'Working' });
    const t2 = tick();
    await events.publish(jobIds[0]!, {
      status: 'error',
      progress: 40,
      message: 'Failed',
      error: { code: 'summarize_failed', message: 'No.' },
    });
    const t3 = tick();
    await events.publish(jobIds[1]!, { status: 'done', progress: 100, message: 'Done', result: 'Short.' });

    const want = [
      jobEventJson(jobIds[0]!, batchId, first, t0),
      jobEventJson(jobIds[1]!, batchId, first, t0),
      batchEventJson(batchId, 'queued', 0, { ...zero, queued: 2 }, t0),
      jobEventJson(jobIds[0]!, batchId, { status: 'processing', progress: 40, message: 'Working' }, t1),
      batchEventJson(batchId, 'processing', 20, { ...zero, queued: 1, processing: 1 }, t1),
      jobEventJson(
        jobIds[0]!,
        batchId,
        { status: 'error', progress: 40, message: 'Failed', error: { code: 'summarize_failed', message: 'No.' } },
        t2,
      ),
      batchEventJson(batchId, 'processing', 50, { ...zero, queued: 1, error: 1 }, t2),
      jobEventJson(jobIds[1]!, batchId, { status: 'done', progress: 100, message: 'Done', result: 'Short.' }, t3),
      batchEventJson(batchId, 'done', 100, { ...zero, error: 1, done: 1 }, t3),
    ];
    expect(await stored(topic)).toEqual(want);
    expect(await stored(jobIds[0]!)).toEqual([want[0], want[3], want[5]]);
    for (const data of [want[0]!, want[3]!, want[5]!, want[7]!]) expectJobKeyOrder(data);
    expect(await redis.hget(keys.batch(batchId), 'event')).toBe(want.at(-1));
    // The live ones: what the fan-out gets after createBatch (which wakes nobody: no one can watch yet).
    const out = await fanned(topic, want.length - 3);
    expect(out.map((event) => event?.data)).toEqual(want.slice(3));
    expect(out.map((event) => event?.ts)).toEqual([t1, t1, t2, t2, t3, t3]);
    expect(out.map((event) => event?.name)).toEqual(['progress', 'batch', 'error', 'batch', 'done', 'batch']);
    broker.unsubscribe(topic);
  });
});
