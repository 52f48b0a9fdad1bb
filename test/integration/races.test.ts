import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { EventPublisher, QUEUE_NAME, QUEUE_PREFIX, bullConnection, keys, releaseBullConnection } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { redisSettings } from '../support/redis-target.ts';

// What happens when two things meet: a cancel and the job's own end, one Idempotency-Key on two
// replicas at once, a Stream trimmed under a watcher.

describe('a cancel that meets the job’s end', () => {
  let system: TestSystem;
  beforeAll(async () => {
    // Short stages: the cancel lands on either side of the last one, by chance.
    system = await startSystem({ env: { STAGE_DELAY_MS: '15' } });
  });
  afterAll(() => system.close());

  it('leaves one terminal event, last, and the answer agrees with it, every time', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 20; round += 1) {
      const { body } = await submit(a, BEES);
      const watcher = SseClient.open(`${a}/v1/jobs/${body.jobId}/events`);
      await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'polishing'), 15_000);
      const cancel = await request(`${b}/v1/jobs/${body.jobId}`, { method: 'DELETE' });
      await watcher.finished(10_000);
      await expectExactHistory(system.redis, body.jobId, watcher.events);
      const ended = watcher.events.at(-1)!.json.status;
      // 409: it had ended when asked, so done. 202: asked in time, so cancelled — or done, when
      // the worker was already writing its last event (docs/api.md, DELETE).
      if (cancel.status === 409) {
        expect(ended).toBe('done');
      } else {
        expect(cancel.status).toBe(202);
        expect(['cancelled', 'done']).toContain(ended);
      }
      const snapshot = await request(`${a}/v1/jobs/${body.jobId}`);
      expect(snapshot.body).toMatchObject({ status: ended, lastEventId: watcher.lastEventId });
      const outcome = `${cancel.status} ${ended}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    console.info(`[races] cancel vs done over 20 rounds: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  }, 120_000);
});

describe('one Idempotency-Key on two replicas at once', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ workers: 0 });
  });
  afterAll(() => system.close());

  it('creates one job: one replica answers 202, the other 200 with the same job', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    for (let round = 0; round < 10; round += 1) {
      const key = { 'Idempotency-Key': `same-key-${round}` };
      const answers = await Promise.all([submit(a, BEES, undefined, key), submit(b, BEES, undefined, key)]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 202]);
      expect(answers[0]!.body.jobId).toBe(answers[1]!.body.jobId);
    }
    const connection = bullConnection(redisSettings(), { name: 'test:queue' });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    try {
      expect(await queue.getWaitingCount()).toBe(10);
    } finally {
      await queue.close();
      releaseBullConnection(connection);
    }
  });

  it('with two different bodies: one 202, one 409, and one job', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const key = { 'Idempotency-Key': 'contested-key' };
    const answers = await Promise.all([submit(a, BEES, undefined, key), submit(b, `${BEES} Another sentence.`, undefined, key)]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409]);
    expect(answers.find((answer) => answer.status === 409)!.body.error.code).toBe('idempotency_conflict');
  });
});

describe('STREAM_MAXLEN', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0, env: { STREAM_MAXLEN: '10' } });
  });
  afterAll(() => system.close());

  it('caps a job’s Stream (approximately: Redis trims whole nodes); a watcher gets what is kept, exactly', async () => {
    const api = system.apis[0]!.url;
    const { body } = await submit(api, BEES);
    const jobId = body.jobId as string;
    // What a worker would do, with the replica's own settings.
    const publisher = new EventPublisher(system.redis, {
      ttlSeconds: system.config.JOB_TTL_SECONDS,
      streamMaxLen: system.config.STREAM_MAXLEN,
    });
    for (let i = 1; i <= 500; i += 1)
      await publisher.publish(jobId, { status: 'processing', progress: Math.floor(i / 10), message: `step ${i}` });
    await publisher.publish(jobId, { status: 'done', progress: 100, message: 'done', result: 'ok' });

    const length = await system.redis.xlen(keys.events(jobId));
    // MAXLEN ~ 10 keeps at least 10 and trims in nodes of stream-node-max-entries (100 by default).
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThanOrEqual(10 + 100);
    const watcher = await SseClient.open(`${api}/v1/jobs/${jobId}/events`).finished();
    expect(watcher.events).toHaveLength(length);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    await expectExactHistory(system.redis, jobId, watcher.events);
  });
});
