import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { ConfigError, QUEUE_NAME, QUEUE_PREFIX, bullConnection, loadConfig, releaseBullConnection, type RedisClient } from '@herald/shared';
import { runEntry, waitForOk, type Child } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { request, submit } from '../support/http.ts';
import { documentedMetrics, scrape, type Scrape } from '../support/prometheus.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { redisEnv, redisSettings } from '../support/redis-target.ts';

// docs/metrics.md is the list of Herald's metrics: every one is served by the process it names,
// and nothing herald_* is served that it does not list (process metrics aside).

const PROCESS_METRICS = /^herald_(api|worker)_/;
const stage = (name: string) => (client: SseClient) => client.events.some((event) => event.json.stage === name);
const sum = (scraped: Scrape, name: string, labels: Record<string, string> = {}): number =>
  scraped.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the documented metrics', () => {
  let system: TestSystem;
  let api: string;
  let worker: string;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 1, env: { STAGE_DELAY_MS: '150' } });
    api = system.apis[0]!.url;
    worker = system.workers[0]!.metricsServer!.url;
  });
  afterAll(() => system.close());

  it('the docs table lists metrics for both processes', () => {
    const documented = documentedMetrics();
    expect(documented.length).toBeGreaterThanOrEqual(10);
    for (const metric of documented) {
      expect(['counter', 'gauge', 'histogram']).toContain(metric.type);
      for (const where of metric.where) expect(['api', 'worker']).toContain(where);
    }
  });

  it('the worker serves /metrics and /healthz on its own port', async () => {
    expect(await request(`${worker}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    const response = await fetch(`${worker}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await request(`${worker}/nope`)).status).toBe(404);
  });

  it('are all served by their process, move while a job runs, and nothing undocumented is served', async () => {
    const before = { api: await scrape(api), worker: await scrape(worker) };
    // The queue paused until the watcher is live (it has the queued event, read as history after
    // it subscribed): every event from `received` on then reaches it live, so the counts are exact.
    const connection = bullConnection(redisSettings(), { name: 'test:queue' });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    let watcher: SseClient;
    try {
      await queue.pause();
      const { body } = await submit(api, BEES);
      watcher = SseClient.open(`${api}/v1/jobs/${body.jobId}/events`);
      await watcher.waitFor((client) => client.events.length === 1, 5000);
      await queue.resume();
    } finally {
      await queue.close();
      releaseBullConnection(connection);
    }
    await watcher.waitFor(stage('received'), 15_000);

    const during = { api: await scrape(api), worker: await scrape(worker) };
    expect(during.api.value('herald_sse_watchers')).toBe(1);
    expect(during.api.value('herald_sse_watched_jobs')).toBe(1);
    expect(during.worker.value('herald_jobs_active')).toBe(1);
    await until(
      async () => (await scrape(api)).value('herald_queue_depth', { state: 'active' }) === 1,
      5000,
      'the job active in the queue',
    );

    await watcher.finished(20_000);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    // The terminal event is written before the worker counts the job; give it a moment.
    await until(async () => (await scrape(worker)).value('herald_jobs_finished_total', { status: 'done' }) === 1, 5000, 'the finished job');
    const after = { api: await scrape(api), worker: await scrape(worker) };

    // Every documented metric, in the process(es) it is documented for, with its type.
    for (const metric of documentedMetrics()) {
      for (const where of metric.where as ('api' | 'worker')[]) {
        expect(after[where].types.get(metric.name), `${metric.name} on the ${where}`).toBe(metric.type);
      }
    }
    // Every herald_* metric served is documented, for that process.
    const documented = new Map(documentedMetrics().map((metric) => [metric.name, metric.where]));
    for (const where of ['api', 'worker'] as const) {
      const served = [...after[where].types.keys()].filter((name) => name.startsWith('herald_') && !PROCESS_METRICS.test(name));
      for (const name of served) expect(documented.get(name), `${name} (served by the ${where})`).toContain(where);
      // and the process metrics carry the process's prefix
      expect([...after[where].types.keys()].some((name) => name.startsWith(`herald_${where}_process_`))).toBe(true);
    }

    // Values moved.
    const moved = (name: string, labels: Record<string, string> = {}, process: 'api' | 'worker' = 'api') =>
      sum(after[process], name, labels) - sum(before[process], name, labels);
    expect(after.api.value('herald_sse_watchers')).toBe(0);
    expect(after.api.value('herald_sse_watched_jobs')).toBe(0);
    expect(moved('herald_jobs_submitted_total')).toBe(1);
    // queued is read as history; received, analyzing, summarizing, polishing and done arrive live.
    expect(watcher.events.map((event) => event.json.stage)).toEqual([
      'queued',
      'received',
      'analyzing',
      'summarizing',
      'polishing',
      'done',
    ]);
    expect(moved('herald_fanout_events_total')).toBe(5);
    expect(moved('herald_fanout_deliveries_total')).toBe(moved('herald_fanout_events_total'));
    expect(moved('herald_fanout_latency_seconds_count')).toBe(moved('herald_fanout_events_total'));
    // The replica writes an event before its watcher reads it: the latencies it recorded add up
    // to no more than what the live events took to reach the watcher (receipt − ts, on the same
    // clock), and to something.
    const seen = watcher.events.slice(1).reduce((total, event) => total + (event.receivedAt! - (event.json.ts as number)) / 1000, 0);
    expect(moved('herald_fanout_latency_seconds_sum')).toBeLessThanOrEqual(seen + 0.001 * 5);
    expect(moved('herald_fanout_latency_seconds_sum')).toBeGreaterThan(0);
    expect(moved('herald_sse_streams_ended_total', { how: 'completed' })).toBe(1);
    expect(after.api.value('herald_sse_streams_ended_total', { how: 'cut-off' })).toBe(0);
    // The job has left the queue: BullMQ moves it out of `active` just after the worker's last event.
    await until(async () => (await scrape(api)).value('herald_queue_depth', { state: 'active' }) === 0, 5000, 'an empty queue');
    const settled = await scrape(api);
    for (const state of ['waiting', 'active', 'delayed']) expect(settled.value('herald_queue_depth', { state }), state).toBe(0);
    expect(moved('herald_jobs_finished_total', { status: 'done' }, 'worker')).toBe(1);
    expect(after.worker.value('herald_jobs_finished_total', { status: 'error' })).toBe(0);
    expect(moved('herald_job_duration_seconds_count', { status: 'done' }, 'worker')).toBe(1);
    // Four stages of 150 ms at least, from submission to the done event.
    expect(after.worker.value('herald_job_duration_seconds_sum', { status: 'done' })).toBeGreaterThan(0.5);
    expect(after.worker.value('herald_jobs_active')).toBe(0);
    for (const connection of ['herald:api:commands', 'herald:api:fanout', 'herald:api:queue']) {
      expect(after.api.value('herald_redis_reconnects_total', { connection }), connection).toBe(0);
    }
    for (const connection of ['herald:worker:commands', 'herald:worker:cancel', 'herald:worker:bullmq', 'herald:worker:janitor']) {
      expect(after.worker.value('herald_redis_reconnects_total', { connection }), connection).toBe(0);
    }
  });

  it('counts a job cancelled while queued on the API, one cancelled while running on the worker', async () => {
    const before = { api: await scrape(api), worker: await scrape(worker) };
    // Running: cancel once it has started.
    const running = await submit(api, BEES);
    const watcher = SseClient.open(`${api}/v1/jobs/${running.body.jobId}/events`);
    await watcher.waitFor(stage('received'), 15_000);
    expect((await request(`${api}/v1/jobs/${running.body.jobId}`, { method: 'DELETE' })).status).toBe(202);
    await watcher.finished(10_000);
    expect(watcher.events.at(-1)!.json.status).toBe('cancelled');
    await until(
      async () =>
        sum(await scrape(worker), 'herald_jobs_finished_total', { status: 'cancelled' }) >
        sum(before.worker, 'herald_jobs_finished_total', { status: 'cancelled' }),
      5000,
      'the cancelled job',
    );
    const after = { api: await scrape(api), worker: await scrape(worker) };
    expect(
      sum(after.worker, 'herald_jobs_finished_total', { status: 'cancelled' }) -
        sum(before.worker, 'herald_jobs_finished_total', { status: 'cancelled' }),
    ).toBe(1);
    expect(
      sum(after.worker, 'herald_job_duration_seconds_count', { status: 'cancelled' }) -
        sum(before.worker, 'herald_job_duration_seconds_count', { status: 'cancelled' }),
    ).toBe(1);
    expect(sum(after.api, 'herald_jobs_cancelled_queued_total')).toBe(sum(before.api, 'herald_jobs_cancelled_queued_total'));
  });
});

describe('queue depth', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0 });
  });
  afterAll(() => system.close());

  it('shows the jobs waiting, and a queued job cancelled on the API is counted there', async () => {
    const api = system.apis[0]!.url;
    const first = await submit(api, BEES);
    await submit(api, BEES);
    expect((await scrape(api)).value('herald_queue_depth', { state: 'waiting' })).toBe(2);
    expect((await request(`${api}/v1/jobs/${first.body.jobId}`, { method: 'DELETE' })).status).toBe(202);
    const scraped = await scrape(api);
    expect(scraped.value('herald_queue_depth', { state: 'waiting' })).toBe(1);
    expect(scraped.value('herald_jobs_cancelled_queued_total')).toBe(1);
  });
});

describe('with a Redis of its own', () => {
  let redis: TestRedis;
  let system: TestSystem;
  let admin: RedisClient;
  beforeAll(async () => {
    redis = await startTestRedis();
    system = await startSystem({ redisUrl: redis.url, replicas: 1, workers: 1 });
    admin = new Redis(redis.url, { retryStrategy: () => 200, maxRetriesPerRequest: null });
    admin.on('error', () => {});
  });
  afterAll(async () => {
    await system.close();
    admin.disconnect();
    await redis.stop();
  });

  const reconnects = async (url: string): Promise<Map<string, number>> => {
    const scraped = await scrape(url);
    return new Map(scraped.samples.filter((s) => s.name === 'herald_redis_reconnects_total').map((s) => [s.labels.connection!, s.value]));
  };
  const connections = {
    api: ['herald:api:commands', 'herald:api:fanout', 'herald:api:queue'],
    worker: ['herald:worker:commands', 'herald:worker:cancel', 'herald:worker:bullmq', 'herald:worker:janitor'],
  };

  async function expectEveryConnectionReconnected(before: { api: Map<string, number>; worker: Map<string, number> }): Promise<void> {
    const api = system.apis[0]!.url;
    const worker = system.workers[0]!.metricsServer!.url;
    await until(
      async () => {
        const now = { api: await reconnects(api), worker: await reconnects(worker) };
        return (['api', 'worker'] as const).every((process) =>
          connections[process].every((name) => (now[process].get(name) ?? 0) > (before[process].get(name) ?? 0)),
        );
      },
      10_000,
      'every connection to count a reconnect',
    );
  }

  it('counts a reconnect on every connection when Redis drops its clients', async () => {
    const api = system.apis[0]!.url;
    const worker = system.workers[0]!.metricsServer!.url;
    // A job first, so every connection (BullMQ's included) is in use.
    const { body } = await submit(api, BEES);
    await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished(15_000);
    const before = { api: await reconnects(api), worker: await reconnects(worker) };
    for (const name of connections.api) expect(before.api.get(name)).toBe(0);
    for (const name of connections.worker) expect(before.worker.get(name)).toBe(0);

    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await expectEveryConnectionReconnected(before);

    // and the system still works
    await waitForOk(`${api}/readyz`, 10_000);
    const again = await submit(api, BEES);
    const watcher = await SseClient.open(`${api}/v1/jobs/${again.body.jobId}/events`).finished(15_000);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
  });

  it('with Redis down a scrape answers at once, with the last queue depth; reconnects count on', async () => {
    const api = system.apis[0]!.url;
    const worker = system.workers[0]!.metricsServer!.url;
    // Jobs waiting (the queue paused: no worker takes them), so the last depth read is not 0,
    // which a scrape that failed and reported nothing (or zeros) would also show.
    const connection = bullConnection(system.config, { name: 'test:queue' });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    try {
      await queue.pause();
      for (let i = 0; i < 3; i += 1) expect((await submit(api, BEES)).status).toBe(202);
    } finally {
      await queue.close();
      releaseBullConnection(connection);
    }
    // A fresh queue depth read while Redis is up, once the earlier jobs have left 'active'
    // (BullMQ moves a job on just after its last event): the value a scrape must then keep.
    await expect
      .poll(async () => {
        const scraped = await scrape(api);
        return ['waiting', 'active', 'delayed'].map((state) => scraped.value('herald_queue_depth', { state }));
      })
      .toEqual([3, 0, 0]);
    const before = { api: await reconnects(api), worker: await reconnects(worker) };
    await redis.kill();
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 0; i < 3; i += 1) {
        const started = Date.now();
        const scraped = await scrape(api);
        expect(Date.now() - started).toBeLessThan(1500);
        expect(['waiting', 'active', 'delayed'].map((state) => scraped.value('herald_queue_depth', { state }))).toEqual([3, 0, 0]);
        const started2 = Date.now();
        await scrape(worker);
        expect(Date.now() - started2).toBeLessThan(1500);
      }
    } finally {
      await redis.start();
    }
    await expectEveryConnectionReconnected(before);
    await waitForOk(`${api}/readyz`, 10_000);
  });
});

describe('npm start (API + worker in one process)', () => {
  const children: Child[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill('SIGKILL');
        await child.exited();
      }
    }
  });

  it("serves the worker's metrics on the API's /metrics and opens no METRICS_PORT", async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = runEntry('apps/standalone/src/main.ts', {
      ...redisEnv(),
      PORT: String(port),
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      STAGE_DELAY_MS: '0',
      LOG_LEVEL: 'warn',
    });
    children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await waitForOk(`${url}/readyz`, 15_000);
    const { body } = await submit(url, BEES);
    await SseClient.open(`${url}/v1/jobs/${body.jobId}/events`).finished(15_000);
    await until(
      async () => ((await scrape(url)).value('herald_jobs_finished_total', { status: 'done' }) ?? 0) >= 1,
      5000,
      'the finished job',
    );

    const scraped = await scrape(url);
    for (const metric of documentedMetrics()) expect(scraped.types.get(metric.name), metric.name).toBe(metric.type);
    const names = [...scraped.types.keys()];
    expect(names.some((name) => name.startsWith('herald_api_process_'))).toBe(true);
    expect(names.some((name) => name.startsWith('herald_worker_'))).toBe(false);
    for (const connection of ['herald:api:commands', 'herald:worker:bullmq']) {
      expect(scraped.value('herald_redis_reconnects_total', { connection }), connection).toBe(0);
    }
    expect(
      await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
        () => 'answered',
        () => 'refused',
      ),
    ).toBe('refused');

    child.process.kill('SIGTERM');
    expect(await child.exited()).toBe(0);
  });
});

describe('a worker process started while Redis is away', () => {
  it('serves /healthz and /metrics on METRICS_PORT meanwhile, counting its reconnect attempts', async () => {
    const [redisPort, metricsPort] = [await freePort(), await freePort()]; // nothing listens on redisPort
    const child = runEntry('apps/worker/src/main.ts', {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'warn',
    });
    try {
      const url = `http://127.0.0.1:${metricsPort}`;
      await waitForOk(`${url}/healthz`, 15_000);
      await until(
        async () => ((await scrape(url)).value('herald_redis_reconnects_total', { connection: 'herald:worker:commands' }) ?? 0) > 1,
        10_000,
        'reconnect attempts',
      );
      const scraped = await scrape(url);
      expect(scraped.types.get('herald_jobs_finished_total')).toBe('counter');
      expect([...scraped.types.keys()].some((name) => name.startsWith('herald_worker_process_'))).toBe(true);
    } finally {
      child.process.kill('SIGKILL');
      await child.exited();
    }
  });
});

describe('METRICS_PORT', () => {
  it('defaults to 9091, takes 0 (any free port), and refuses what is not a port', () => {
    expect(loadConfig({}).METRICS_PORT).toBe(9091);
    expect(loadConfig({ METRICS_PORT: '0' }).METRICS_PORT).toBe(0);
    expect(loadConfig({ METRICS_PORT: '' }).METRICS_PORT).toBe(9091);
    for (const bad of ['70000', '-1', 'nine']) {
      expect(() => loadConfig({ METRICS_PORT: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ METRICS_PORT: bad })).toThrow(/METRICS_PORT=/);
    }
  });
});
