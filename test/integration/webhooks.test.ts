import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@herald/api';
import { createLogger } from '@herald/shared';
import { extractiveBackend, type Summarizer } from '@herald/worker-process';
import { runEntry, type Child } from '../support/child.ts';
import { expectError } from '../support/assertions.ts';
import { freePort } from '../support/free-port.ts';
import { request } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { SlowReceiver, type SlowAnswer } from '../support/slow-receiver.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';
import { keysMatching, redisEnv } from '../support/redis-target.ts';
import { scrape } from '../support/prometheus.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
/** Fast retries for tests: 150 ms, then 300, 600, … */
const WEBHOOKS = { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_BACKOFF_MS: '150', WEBHOOK_ATTEMPTS: '5' };

/** Texts containing FAIL make this summarizer throw, every time. */
const failing: Summarizer = {
  name: 'test-failing',
  async summarize(run) {
    if (run.text.includes('FAIL')) throw new Error('the model is on fire');
    return extractiveBackend(0).summarize(run);
  },
};

const submitWithCallback = async (api: string, callbackUrl: string, body: Record<string, unknown> = { text: BEES }) => {
  const answer = await request(`${api}/v1/jobs`, { json: { ...body, callbackUrl } });
  expect(answer.status).toBe(202);
  return answer.body as { jobId: string; publishToken?: string };
};

const snapshotOf = async (api: string, jobId: string) => (await request(`${api}/v1/jobs/${jobId}`)).body;

/** The worker's herald_webhook_attempts_total, by outcome. */
const webhookAttempts = async (system: TestSystem): Promise<Record<string, number>> => {
  const scraped = await scrape(system.workers[0]!.metricsServer!.url);
  const outcomes = ['delivered', 'pending', 'failed', 'refused', 'gone'];
  return Object.fromEntries(
    outcomes.map((outcome) => [outcome, scraped.value('herald_webhook_attempts_total', { outcome }) ?? Number.NaN]),
  );
};

describe('completion webhooks', () => {
  let system: TestSystem;
  let api: string;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    system = await startSystem({
      summarizer: failing,
      env: { ...WEBHOOKS, WEBHOOK_TIMEOUT_MS: '300', JOB_ATTEMPTS: '1' },
    });
    api = system.apis[0]!.url;
    receiver = await WebhookReceiver.start(SECRET);
  });
  afterAll(async () => {
    await receiver.close();
    await system.close();
  });

  it('POSTs the job’s end, signed (Standard Webhooks), and retries failures with backoff under the same webhook-id', async () => {
    receiver.answer = (_id, attempt) => (attempt <= 2 ? 500 : 204);
    const attemptsBefore = await webhookAttempts(system);
    const job = await submitWithCallback(api, receiver.url('/hooks/herald'));
    expect((await snapshotOf(api, job.jobId)).webhook).toEqual({ state: 'pending', attempts: 0 });
    await expect.poll(() => receiver.acknowledged(job.jobId).length, { timeout: 10_000 }).toBe(1);

    const deliveries = receiver.deliveriesOf(job.jobId);
    expect(deliveries.map((hook) => hook.answered)).toEqual([500, 500, 204]);
    for (const hook of deliveries) {
      expect(hook.signed).toBe(true);
      expect(hook.headers['content-type']).toBe('application/json');
      expect(Math.abs(hook.timestamp * 1000 - hook.receivedAt)).toBeLessThan(5000);
    }
    // Backoff, jittered: between half of 150 ms and all of it, then between half of 300 ms and all of it.
    const gaps = deliveries.slice(1).map((hook, i) => hook.receivedAt - deliveries[i]!.receivedAt);
    expect(gaps[0]).toBeGreaterThanOrEqual(70);
    expect(gaps[1]).toBeGreaterThanOrEqual(145);

    // The worker records the delivery after the receiver has answered: the snapshot follows.
    await expect.poll(async () => (await snapshotOf(api, job.jobId)).webhook.state, { timeout: 5_000 }).toBe('delivered');
    const snapshot = await snapshotOf(api, job.jobId);
    const { webhook, ...withoutWebhook } = snapshot;
    // No lastStatus: the receiver is on a private (allowed) host, whose answers are not shown.
    expect(webhook).toEqual({ state: 'delivered', attempts: 3 });
    // Each attempt counted in the worker's metrics by how it ended (written with the snapshot).
    expect(await webhookAttempts(system)).toEqual({
      ...attemptsBefore,
      pending: attemptsBefore.pending! + 2,
      delivered: attemptsBefore.delivered! + 1,
    });
    const payload = deliveries.at(-1)!.json;
    expect(payload).toEqual({ type: 'job.done', timestamp: new Date(snapshot.updatedAt).toISOString(), data: withoutWebhook });
    expect(payload.data).toMatchObject({ jobId: job.jobId, kind: 'summarize', status: 'done', result: expect.any(String) });
    // The same body each time: a receiver may dedupe by webhook-id and keep any one.
    expect(new Set(deliveries.map((hook) => hook.body)).size).toBe(1);
  });

  it('says job.error and job.cancelled for jobs that end so, external ones too', async () => {
    receiver.answer = () => 200;
    const failed = await submitWithCallback(api, receiver.url(), { text: `${BEES} FAIL` });
    const external = await submitWithCallback(api, receiver.url(), { kind: 'external', title: 'import' });
    const cancelled = await submitWithCallback(api, receiver.url(), { kind: 'external' });
    const published = await request(`${api}/v1/jobs/${external.jobId}/events`, {
      json: { status: 'error', progress: 0, error: { code: 'bad_row', message: 'Row 17 has no id' } },
      headers: { Authorization: `Bearer ${external.publishToken}` },
    });
    expect(published.status).toBe(201);
    expect((await request(`${api}/v1/jobs/${cancelled.jobId}`, { method: 'DELETE' })).status).toBe(202);
    for (const [jobId, type] of [
      [failed.jobId, 'job.error'],
      [external.jobId, 'job.error'],
      [cancelled.jobId, 'job.cancelled'],
    ] as const) {
      await expect.poll(() => receiver.acknowledged(jobId).length, { timeout: 10_000 }).toBe(1);
      expect(receiver.acknowledged(jobId)[0]!.json).toMatchObject({ type, data: { jobId } });
    }
    expect(receiver.acknowledged(external.jobId)[0]!.json.data).toMatchObject({ title: 'import', error: { code: 'bad_row' } });
  });

  it('POSTs a batch’s end once, when its last job has ended, and none for its jobs', async () => {
    receiver.answer = () => 200;
    const answer = await request(`${api}/v1/batches`, {
      json: { items: [{ text: BEES }, { text: `${BEES} FAIL` }, { text: `${BEES} Again.` }], callbackUrl: receiver.url('/hooks/batch') },
    });
    expect(answer.status).toBe(202);
    const { batchId, jobIds } = answer.body as { batchId: string; jobIds: string[] };
    await expect.poll(() => receiver.acknowledged(batchId).length, { timeout: 10_000 }).toBe(1);
    await expect.poll(async () => (await request(`${api}/v1/batches/${batchId}`)).body.webhook.state, { timeout: 5_000 }).toBe('delivered');
    const batch = (await request(`${api}/v1/batches/${batchId}`)).body;
    expect(batch.webhook).toEqual({ state: 'delivered', attempts: 1 });
    const { webhook: _state, ...data } = batch;
    expect(receiver.acknowledged(batchId)[0]!.json).toEqual({
      type: 'batch.done',
      timestamp: new Date(batch.updatedAt).toISOString(),
      data,
    });
    expect(data.counts).toEqual({ queued: 0, processing: 0, done: 2, error: 1, cancelled: 0 });
    expect(receiver.deliveriesOf(batchId)[0]!.headers['webhook-id']).toBe(`msg_${batchId}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.acknowledged(batchId)).toHaveLength(1);
    for (const jobId of jobIds) expect(receiver.deliveriesOf(jobId)).toEqual([]);
  });

  it('retries time-outs and refused connections; gives up after WEBHOOK_ATTEMPTS, and the snapshot says so', async () => {
    // Nothing listens on this port at first: connections are refused. Then a receiver that hangs.
    const port = await freePort();
    const job = await submitWithCallback(api, `http://127.0.0.1:${port}/late`);
    await expect.poll(async () => (await snapshotOf(api, job.jobId)).webhook.attempts, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect((await snapshotOf(api, job.jobId)).webhook).toMatchObject({ state: 'pending' });
    const late = await WebhookReceiver.start(SECRET, (_id, attempt) => (attempt === 1 ? 'hang' : 202), port);
    try {
      await expect.poll(() => late.acknowledged(job.jobId).length, { timeout: 15_000 }).toBe(1);
      expect(late.deliveriesOf(job.jobId).map((hook) => hook.answered)).toEqual([0, 202]);
      // The worker records the delivery after the receiver has answered: the snapshot follows.
      await expect.poll(async () => (await snapshotOf(api, job.jobId)).webhook, { timeout: 5_000 }).toMatchObject({ state: 'delivered' });
    } finally {
      await late.close();
    }

    receiver.answer = () => 503;
    const doomed = await submitWithCallback(api, receiver.url());
    await expect.poll(async () => (await snapshotOf(api, doomed.jobId)).webhook.state, { timeout: 15_000 }).toBe('failed');
    expect((await snapshotOf(api, doomed.jobId)).webhook).toEqual({ state: 'failed', attempts: 5 });
    expect(receiver.deliveriesOf(doomed.jobId)).toHaveLength(5);
  });

  it('follows no redirect: a 3xx is a failed attempt, retried to WEBHOOK_ATTEMPTS, and its Location is never contacted', async () => {
    // The Location names another receiver on 127.0.0.1 (an allowed host), which must hear nothing.
    const target = await WebhookReceiver.start(SECRET);
    try {
      const statuses = [301, 302, 303, 307, 308];
      receiver.answer = (_id, attempt) => ({ status: statuses[attempt - 1] ?? 302, headers: { Location: target.url('/moved') } });
      const job = await submitWithCallback(api, receiver.url('/redirecting'));
      await expect.poll(async () => (await snapshotOf(api, job.jobId)).webhook.state, { timeout: 15_000 }).toBe('failed');
      expect((await snapshotOf(api, job.jobId)).webhook).toEqual({ state: 'failed', attempts: 5 });
      expect(receiver.deliveriesOf(job.jobId).map((hook) => hook.answered)).toEqual(statuses);
      expect(target.received).toEqual([]);
    } finally {
      await target.close();
    }
  });

  it('stops at 410 Gone: no more attempts, and the snapshot says gone', async () => {
    receiver.answer = () => 410;
    const attemptsBefore = await webhookAttempts(system);
    const job = await submitWithCallback(api, receiver.url());
    await expect.poll(async () => (await snapshotOf(api, job.jobId)).webhook.state, { timeout: 10_000 }).toBe('gone');
    expect(await webhookAttempts(system)).toEqual({ ...attemptsBefore, gone: attemptsBefore.gone! + 1 });
    expect((await snapshotOf(api, job.jobId)).webhook).toEqual({ state: 'gone', attempts: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // a retry would have come by now (150 ms)
    expect(receiver.deliveriesOf(job.jobId).map((hook) => hook.answered)).toEqual([410]);
  });

  it('waits as long as Retry-After asks (seconds or a date), on 429 and 503', async () => {
    receiver.answer = (_id, attempt) =>
      attempt === 1
        ? { status: 429, headers: { 'Retry-After': '1' } }
        : attempt === 2
          ? { status: 503, headers: { 'Retry-After': new Date(Date.now() + 2000).toUTCString() } }
          : 204;
    const job = await submitWithCallback(api, receiver.url());
    await expect.poll(() => receiver.acknowledged(job.jobId).length, { timeout: 10_000 }).toBe(1);
    const deliveries = receiver.deliveriesOf(job.jobId);
    expect(deliveries.map((hook) => hook.answered)).toEqual([429, 503, 204]);
    // The backoff alone would be 75-150 ms, then 150-300 ms. An HTTP date has whole seconds: 1-2 s.
    expect(deliveries[1]!.receivedAt - deliveries[0]!.receivedAt).toBeGreaterThanOrEqual(990);
    expect(deliveries[2]!.receivedAt - deliveries[1]!.receivedAt).toBeGreaterThanOrEqual(990);
  });

  it('refuses callbacks to loopback, private and link-local addresses not listed in WEBHOOK_ALLOWED_HOSTS', async () => {
    receiver.answer = () => 204;
    const port = receiver.port;
    // Literal addresses are refused at submission (all loopback here: nothing else is ever contacted).
    for (const url of [
      `http://127.0.0.2:${port}/`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.3]:${port}/`,
      `http://0x7f000002:${port}/`, // 127.0.0.2, as WHATWG URL parsing reads it
      `http://2130706434:${port}/`, // 127.0.0.2 again
      `http://0.0.0.0:${port}/`,
    ]) {
      const answer = await request(`${api}/v1/jobs`, { json: { text: BEES, callbackUrl: url } });
      expectError(answer, 400, 'invalid_request');
      expect({ url, details: JSON.stringify(answer.body.error.details) }).toEqual({
        url,
        details: expect.stringContaining('WEBHOOK_ALLOWED_HOSTS'),
      });
    }
    for (const url of ['ftp://127.0.0.1/x', 'not a url', `javascript:alert(1)`]) {
      expectError(await request(`${api}/v1/jobs`, { json: { text: BEES, callbackUrl: url } }), 400, 'invalid_request');
    }
    // A name is judged on what it resolves to, at delivery: `localhost` is 127.0.0.1, not listed as a name.
    const job = await submitWithCallback(api, receiver.url('/named', 'localhost'));
    await expect.poll(async () => (await snapshotOf(api, job.jobId)).webhook.state, { timeout: 10_000 }).toBe('refused');
    expect((await snapshotOf(api, job.jobId)).webhook).toEqual({ state: 'refused', attempts: 1 });
    expect(receiver.received.filter((hook) => hook.headers.host?.startsWith('localhost'))).toEqual([]);
    expect(receiver.deliveriesOf(job.jobId)).toEqual([]);
  });
});

describe('webhooks without WEBHOOK_SECRET', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0 });
  });
  afterAll(() => system.close());

  it('refuses any callbackUrl with 400, and creates no job', async () => {
    const answer = await request(`${system.apis[0]!.url}/v1/jobs`, { json: { text: BEES, callbackUrl: 'https://example.com/hook' } });
    expectError(answer, 400, 'invalid_request');
    expect(answer.body.error.message).toMatch(/WEBHOOK_SECRET/);
    expect(await keysMatching(system.redis, 'herald:{*}:snapshot')).toEqual([]);
  });
});

describe('callbacks to special-purpose addresses, with no worker running', () => {
  // No worker: had one of these been accepted, nothing would ever deliver it off loopback.
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0, env: { WEBHOOK_SECRET: SECRET } });
  });
  afterAll(() => system.close());

  it('refuses at submission the blocks ipaddr.js 1.9 called unicast, and their IPv4-in-IPv6 forms', async () => {
    for (const url of [
      'http://198.18.0.1/',
      'http://[::7f00:1]:18096/',
      'http://[64:ff9b:1::a9fe:a9fe]/',
      'http://[fec0::1]/',
      'http://[64:ff9b::c612:1]/',
      'http://[::ffff:198.18.0.1]/',
      'http://192.88.99.1/',
    ]) {
      const answer = await request(`${system.apis[0]!.url}/v1/jobs`, { json: { kind: 'external', callbackUrl: url } });
      expectError(answer, 400, 'invalid_request');
      expect({ url, details: JSON.stringify(answer.body.error.details) }).toEqual({
        url,
        details: expect.stringContaining('WEBHOOK_ALLOWED_HOSTS'),
      });
    }
    expect(await keysMatching(system.redis, 'herald:{*}:snapshot')).toEqual([]);
  });
});

describe('webhooks across a restart of every process', () => {
  let system: TestSystem;
  let receiver: WebhookReceiver;
  let worker: Child | undefined;
  // A retry waits 3-6 s (jittered backoff): longer than the summaries take to end and record
  // their first attempt, so the worker is killed while every one of them waits for its retry.
  const env = { ...WEBHOOKS, WEBHOOK_BACKOFF_MS: '6000', JOB_LOCK_MS: '2000' };
  const startWorkerProcess = () => runEntry('apps/worker/src/main.ts', { ...redisEnv(), METRICS_PORT: '0', LOG_LEVEL: 'warn', ...env });
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0, env });
    receiver = await WebhookReceiver.start(SECRET, (_id, attempt) => (attempt === 1 ? 503 : 204));
  });
  afterEach(() => {
    worker?.process.kill('SIGKILL');
  });
  afterAll(async () => {
    await receiver.close();
    await system.close();
  });

  it('delivers every job’s webhook, each acknowledged exactly once, although the worker was killed mid-way', async () => {
    let api: RunningApi = system.apis[0]!;
    worker = startWorkerProcess();
    const summaries = await Promise.all(Array.from({ length: 4 }, () => submitWithCallback(api.url, receiver.url())));
    const externals = await Promise.all(Array.from({ length: 3 }, () => submitWithCallback(api.url, receiver.url(), { kind: 'external' })));
    // Every summary's first delivery was answered 503 and recorded: each waits for its retry.
    await Promise.all(
      summaries.map(({ jobId }) =>
        expect.poll(async () => (await snapshotOf(api.url, jobId)).webhook?.attempts, { timeout: 20_000 }).toBeGreaterThanOrEqual(1),
      ),
    );
    for (const { jobId } of summaries) expect((await snapshotOf(api.url, jobId)).webhook).toEqual({ state: 'pending', attempts: 1 });
    worker.process.kill('SIGKILL');
    await worker.exited();

    // While no worker runs, the external jobs end, and the API restarts too.
    for (const { jobId, publishToken } of externals) {
      const answer = await request(`${api.url}/v1/jobs/${jobId}/events`, {
        json: { status: 'done', result: 'imported' },
        headers: { Authorization: `Bearer ${publishToken}` },
      });
      expect(answer.status).toBe(201);
    }
    await api.close();
    api = await startApi({ config: system.config, logger: createLogger('api-restarted', 'silent') });
    system.apis[0] = api;

    worker = startWorkerProcess();
    const all = [...summaries, ...externals].map((job) => job.jobId);
    for (const jobId of all) {
      await expect.poll(() => receiver.acknowledged(jobId).length, { timeout: 20_000 }).toBe(1);
    }
    // Settled: no second acknowledged delivery turns up, and each snapshot says delivered.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const jobId of all) {
      expect(receiver.acknowledged(jobId)).toHaveLength(1);
      expect(new Set(receiver.deliveriesOf(jobId).map((hook) => hook.id))).toEqual(new Set([`msg_${jobId}`]));
      expect((await snapshotOf(api.url, jobId)).webhook).toMatchObject({ state: 'delivered' });
    }
    const watcher = SseClient.open(`${api.url}/v1/jobs/${summaries[0]!.jobId}/events`);
    await watcher.finished();
    expect(watcher.events.at(-1)!.json.status).toBe('done');
  }, 90_000);
});

describe('slow webhook receivers', () => {
  // Each receiver listens on its own loopback address (its own host), listed in
  // WEBHOOK_ALLOWED_HOSTS: every address a delivery could reach is in 127.0.0.0/8.
  const HOSTS = Array.from({ length: 12 }, (_, i) => `127.0.0.${10 + i}`);
  const TIMEOUT_MS = 1000;
  let system: TestSystem;
  let api: string;
  let good: WebhookReceiver;
  const receivers: SlowReceiver[] = [];
  const slow = async (host: string, answer: SlowAnswer) => {
    const receiver = await SlowReceiver.start(host, answer);
    receivers.push(receiver);
    return receiver;
  };
  /** An external job whose webhook is due at once: made, then cancelled. */
  const endedWithCallback = async (callbackUrl: string) => {
    const job = await submitWithCallback(api, callbackUrl, { kind: 'external' });
    expect((await request(`${api}/v1/jobs/${job.jobId}`, { method: 'DELETE' })).status).toBe(202);
    return job.jobId;
  };
  beforeAll(async () => {
    system = await startSystem({
      replicas: 1,
      env: {
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_ALLOWED_HOSTS: ['127.0.0.1', ...HOSTS].join(','),
        WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
        WEBHOOK_ATTEMPTS: '1',
        WEBHOOK_CONCURRENCY_PER_HOST: '2',
        EXTERNAL_IDLE_TIMEOUT_SECONDS: '1',
      },
    });
    api = system.apis[0]!.url;
    good = await WebhookReceiver.start(SECRET);
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });
  afterAll(async () => {
    await good.close();
    await system.close();
  });

  it('stops at the status line: a 2xx acknowledges, and a receiver trickling its body is hung up on at once', async () => {
    const receiver = await slow(HOSTS[0]!, { kind: 'trickle-body', everyMs: 200 });
    const jobId = await endedWithCallback(receiver.url());
    await expect.poll(async () => (await snapshotOf(api, jobId)).webhook.state, { timeout: 5000 }).toBe('delivered');
    expect((await snapshotOf(api, jobId)).webhook).toEqual({ state: 'delivered', attempts: 1 });
    await expect.poll(() => receiver.connections[0]?.closedAt ?? null, { timeout: 2000 }).not.toBeNull();
    const [connection] = receiver.connections;
    expect(connection!.closedAt! - connection!.openedAt).toBeLessThan(TIMEOUT_MS);
  });

  it('ends an attempt at WEBHOOK_TIMEOUT_MS in all, though its answer’s head keeps trickling in', async () => {
    const receiver = await slow(HOSTS[1]!, { kind: 'trickle-head', everyMs: 100 });
    const jobId = await endedWithCallback(receiver.url());
    await expect.poll(async () => (await snapshotOf(api, jobId)).webhook.state, { timeout: 5000 }).toBe('failed');
    expect((await snapshotOf(api, jobId)).webhook).toEqual({ state: 'failed', attempts: 1 });
    await expect.poll(() => receiver.connections[0]?.closedAt ?? null, { timeout: 2000 }).not.toBeNull();
    const [connection] = receiver.connections;
    expect(connection!.closedAt! - connection!.openedAt).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(connection!.closedAt! - connection!.openedAt).toBeLessThan(TIMEOUT_MS + 1000);
  });

  it('with 10 receivers trickling, a watchdog still ends its job on time and a well-behaved receiver gets its webhook', async () => {
    const tarpits = await Promise.all(HOSTS.slice(0, 10).map((host) => slow(host, { kind: 'trickle-head', everyMs: 100 })));
    await Promise.all(tarpits.map((tarpit) => endedWithCallback(tarpit.url())));
    // Every webhook slot of the worker is held by a tarpit.
    await expect.poll(() => tarpits.reduce((open, tarpit) => open + tarpit.open, 0), { timeout: 5000 }).toBeGreaterThanOrEqual(8);

    const watchedAt = Date.now();
    const watched = await submitWithCallback(api, good.url('/unused'), { kind: 'external' });
    const wellBehaved = await endedWithCallback(good.url());
    const endedAt = Date.now();
    // EXTERNAL_IDLE_TIMEOUT_SECONDS=1: the watchdog ends the silent job about a second after it was made.
    await expect.poll(async () => (await snapshotOf(api, watched.jobId)).status, { timeout: 10_000 }).toBe('error');
    expect((await snapshotOf(api, watched.jobId)).error.code).toBe('producer_timeout');
    expect(Date.now() - watchedAt).toBeLessThan(4000);
    // The well-behaved webhook waits for a slot at most one WEBHOOK_TIMEOUT_MS (plus a look again).
    await expect.poll(() => good.acknowledged(wellBehaved).length, { timeout: 10_000 }).toBe(1);
    expect(good.acknowledged(wellBehaved)[0]!.receivedAt - endedAt).toBeLessThan(3 * TIMEOUT_MS + 1000);
  });

  it('delivers to one host WEBHOOK_CONCURRENCY_PER_HOST at a time; the others wait without spending an attempt', async () => {
    const receiver = await slow(HOSTS[11]!, { kind: 'late', delayMs: 600 });
    const jobIds = await Promise.all(Array.from({ length: 5 }, () => endedWithCallback(receiver.url())));
    await expect.poll(() => receiver.connections.filter((connection) => connection.closedAt !== null).length, { timeout: 15_000 }).toBe(5);
    expect(receiver.maxOpen).toBe(2);
    for (const jobId of jobIds) {
      // WEBHOOK_ATTEMPTS=1: a wait that spent the attempt would have failed it.
      await expect.poll(async () => (await snapshotOf(api, jobId)).webhook, { timeout: 5000 }).toEqual({ state: 'delivered', attempts: 1 });
    }
  });
});
