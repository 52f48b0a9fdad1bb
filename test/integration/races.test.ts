import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { isTerminal } from '@herald/contract';
import { EventPublisher, QUEUE_NAME, QUEUE_PREFIX, bullConnection, keys, releaseBullConnection } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { nodesOf, redisSettings } from '../support/redis-target.ts';

// What happens when two things meet: a cancel and the job's own end, one Idempotency-Key on two
// replicas at once, a Stream trimmed under a watcher.

describe('a cancel that meets the job’s end', () => {
  // Each interleaving forced, not left to chance: the worker's last step is a STAGE_DELAY_MS
  // pause, then a check of the cancel key, then its `done` event.
  const STAGE_DELAY_MS = 400;
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({ env: { STAGE_DELAY_MS: String(STAGE_DELAY_MS) } });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  /** A job watched from replica a, once it is in its last step (polishing, then done). */
  async function inItsLastStep(): Promise<{ jobId: string; watcher: SseClient }> {
    const { body } = await submit(a, BEES);
    const watcher = SseClient.open(`${a}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'polishing'), 15_000);
    return { jobId: body.jobId as string, watcher };
  }

  /** The one terminal event is last, it is `status`, and the snapshot agrees. */
  async function expectEnded(jobId: string, watcher: SseClient, status: string): Promise<void> {
    await watcher.finished(10_000);
    await expectExactHistory(system.redis, jobId, watcher.events);
    expect(watcher.events.filter((event) => isTerminal(event.json.status)).map((event) => event.json.status)).toEqual([status]);
    expect((await request(`${b}/v1/jobs/${jobId}`)).body).toMatchObject({ status, lastEventId: watcher.lastEventId });
  }

  /** Clients of the job's Redis (every master on a Cluster) parked by CLIENT PAUSE: `name` running `cmd`. */
  async function parked(name: string, cmd: RegExp): Promise<boolean> {
    const lists = await Promise.all((await nodesOf(system.redis, 'master')).map((node) => node.call('CLIENT', 'LIST') as Promise<string>));
    return lists
      .flatMap((list) => list.split('\n'))
      .some((line) => line.includes(` name=${name} `) && / flags=\S*b/.test(line) && cmd.test(/ cmd=(\S+)/.exec(line)?.[1] ?? ''));
  }

  it('asked before the worker’s last check: 202, and the job ends cancelled, once', async () => {
    const { jobId, watcher } = await inItsLastStep();
    // The worker is in its last pause (STAGE_DELAY_MS): the cancel key is set long before it looks.
    const cancel = await request(`${b}/v1/jobs/${jobId}`, { method: 'DELETE' });
    expect(cancel.status).toBe(202);
    await expectEnded(jobId, watcher, 'cancelled');
  });

  it('asked while the worker writes its last event: 202, and the job ends done, once (docs/api.md, DELETE); asked after: 409', async () => {
    const { jobId, watcher } = await inItsLastStep();
    const masters = await nodesOf(system.redis, 'master');
    // Writes wait (reads do not): the worker passes its last check and its `done` script is held…
    await Promise.all(masters.map((node) => node.call('CLIENT', 'PAUSE', 10_000, 'WRITE')));
    let cancel: Promise<Awaited<ReturnType<typeof request>>> | undefined;
    try {
      await expect.poll(() => parked('herald:worker:commands', /^(evalsha|eval|fcall)$/), { timeout: 5000 }).toBe(true);
      // …then the cancel, whose cancel key and notice are held behind it.
      cancel = request(`${b}/v1/jobs/${jobId}`, { method: 'DELETE' });
      // (Redis 7.0 holds the transaction's SET as it is queued; later ones hold its EXEC.)
      await expect.poll(() => parked('herald:api:commands', /^(set|exec)$/), { timeout: 5000 }).toBe(true);
    } finally {
      // Redis runs them in the order they came: the `done` event, then the cancel.
      await Promise.all(masters.map((node) => node.call('CLIENT', 'UNPAUSE')));
    }
    expect((await cancel!).status).toBe(202);
    await expectEnded(jobId, watcher, 'done');
    // And asked once more, now that it has ended: 409, and nothing is added.
    const again = await request(`${a}/v1/jobs/${jobId}`, { method: 'DELETE' });
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: 'already_finished' });
    await expectExactHistory(system.redis, jobId, watcher.events);
  });
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
