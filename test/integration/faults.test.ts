import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { runEntry, waitForOk, type Child } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { request, submit } from '../support/http.ts';
import { startTestRedis, type TestRedis } from '../support/redis.ts';
import { SseClient, type ReceivedEvent } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { redisEnv } from '../support/redis-target.ts';

// Real faults in real processes: Redis killed and restarted (its own container, AOF on),
// workers and API replicas killed with SIGKILL or drained with SIGTERM. Every watcher must end
// with the job's full, ordered history: no gap, no duplicate, one terminal event.

const children: Child[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
      await child.exited();
    }
  }
});

const stage = (name: string) => (client: SseClient) => client.events.some((event) => event.json.stage === name);

async function apiProcess(redis: Record<string, string>, env: Record<string, string> = {}): Promise<{ url: string; child: Child }> {
  const port = await freePort();
  const child = runEntry('apps/api/src/main.ts', { ...redis, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForOk(`${url}/healthz`);
  return { url, child };
}

describe('Redis killed mid-job and restarted (append-only file on)', () => {
  let redis: TestRedis;
  let system: TestSystem;
  beforeAll(async () => {
    redis = await startTestRedis({ appendOnly: true });
    system = await startSystem({ redisUrl: redis.url, env: { STAGE_DELAY_MS: '400' } });
  });
  afterAll(async () => {
    await system.close();
    await redis.stop();
  });

  it('answers 503 while it is down, and every watcher still gets every event', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const { body } = await submit(a, BEES);
    const watchers = [SseClient.open(`${a}/v1/jobs/${body.jobId}/events`), SseClient.open(`${b}/v1/jobs/${body.jobId}/events`)];
    await Promise.all(watchers.map((watcher) => watcher.waitFor(stage('received'))));

    await redis.kill();
    const asked = Date.now();
    const refused = await submit(a, BEES);
    expect(refused.status).toBe(503);
    expect(Date.now() - asked).toBeLessThan(2000);
    expect((await request(`${b}/readyz`)).status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the worker's stages go on meanwhile
    await redis.start();

    await Promise.all(watchers.map((watcher) => watcher.finished(20_000)));
    for (const watcher of watchers) {
      expect(watcher.events.at(-1)!.json.status).toBe('done');
      await expectExactHistory(system.redis, body.jobId, watcher.events);
    }
    await waitForOk(`${b}/readyz`, 5000);
    expect((await submit(a, BEES)).status).toBe(202);
  });
});

describe('a worker killed mid-job', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0 });
  });
  afterAll(() => system.close());

  it('loses its job to another worker after the lock expires; watchers see it finish, progress never back', async () => {
    const api = system.apis[0]!.url;
    const env = { ...redisEnv(), STAGE_DELAY_MS: '300', JOB_LOCK_MS: '1000', LOG_LEVEL: 'warn' };
    const doomed = runEntry('apps/worker/src/main.ts', env);
    children.push(doomed);
    const { body } = await submit(api, BEES);
    const watcher = SseClient.open(`${api}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor(stage('summarizing'), 15_000);

    doomed.process.kill('SIGKILL');
    await doomed.exited();
    children.push(runEntry('apps/worker/src/main.ts', env));

    await watcher.finished(20_000);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    // The second worker ran it again from the start, and said so only by progress not moving back.
    expect(watcher.events.filter((event) => event.json.stage === 'received').length).toBe(2);
    await expectExactHistory(system.redis, body.jobId, watcher.events);
  });
});

describe('an API replica killed or drained mid-stream', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, env: { STAGE_DELAY_MS: '300' } });
  });
  afterAll(() => system.close());

  async function watchAcrossFailure(fail: (replica: Child) => void): Promise<{ first: SseClient; events: ReceivedEvent[]; jobId: string }> {
    const doomed = await apiProcess(redisEnv());
    const other = system.apis[0]!.url;
    const { body } = await submit(other, BEES);
    const first = SseClient.open(`${doomed.url}/v1/jobs/${body.jobId}/events`);
    await first.waitFor(stage('received'), 15_000);
    fail(doomed.child);
    await first.done.catch(() => {});
    const rest = await SseClient.open(`${other}/v1/jobs/${body.jobId}/events`, { 'Last-Event-ID': first.lastEventId! }).finished(20_000);
    return { first, events: [...first.events, ...rest.events], jobId: body.jobId };
  }

  it('SIGKILL: the watcher resumes on another replica with nothing lost', async () => {
    const { events, jobId } = await watchAcrossFailure((replica) => replica.process.kill('SIGKILL'));
    expect(events.at(-1)!.json.status).toBe('done');
    await expectExactHistory(system.redis, jobId, events);
  });

  it('SIGTERM: the replica sends its watchers a retry hint, closes their streams and exits 0 in time', async () => {
    let replica: Child | undefined;
    let signalled = 0;
    const { first, events, jobId } = await watchAcrossFailure((doomed) => {
      replica = doomed;
      signalled = Date.now();
      doomed.process.kill('SIGTERM');
    });
    expect(first.endedByServer).toBe(true);
    expect(first.events.at(-1)!.json.status).not.toBe('done');
    // The hint came last, after the events, before the close: a plain EventSource comes back then.
    expect(first.retries.at(-1)).toEqual({ ms: loadConfig({}).SSE_RETRY_MS, afterEvents: first.events.length });
    expect(first.retries).toHaveLength(2); // the stream's opening one, and the drain's
    expect(await replica!.exited()).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(loadConfig({}).SHUTDOWN_GRACE_MS);
    await expectExactHistory(system.redis, jobId, events);
  });
});

describe('Redis gone for good, then SIGTERM', () => {
  it('the API, the worker and npm start still stop, within SHUTDOWN_GRACE_MS and a few seconds', async () => {
    const redis = await startTestRedis();
    const env = { REDIS_URL: redis.url, HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '1000', STAGE_DELAY_MS: '0' };
    const api = await apiProcess({ REDIS_URL: redis.url }, env);
    const metricsPort = await freePort();
    const worker = runEntry('apps/worker/src/main.ts', { ...env, METRICS_PORT: String(metricsPort) });
    children.push(worker);
    const standalonePort = await freePort();
    const standalone = runEntry('apps/standalone/src/main.ts', { ...env, PORT: String(standalonePort) });
    children.push(standalone);
    await waitForOk(`http://127.0.0.1:${metricsPort}/healthz`);
    await waitForOk(`http://127.0.0.1:${standalonePort}/healthz`);
    await redis.stop();

    const signalled = Date.now();
    for (const child of [api.child, worker, standalone]) child.process.kill('SIGTERM');
    const codes = await Promise.all([api.child, worker, standalone].map((child) => child.exited()));
    // Closing connections to a Redis that is gone could wait for ever; none waits past the grace.
    expect(Date.now() - signalled).toBeLessThan(1000 + 3000);
    for (const child of [api.child, worker, standalone]) expect(child.output()).toContain('"msg":"shutting down"');
    // docs/api.md (SHUTDOWN_GRACE_MS): 0 once stopped. The API's stop needs nothing of Redis; the
    // worker's (and npm start's, which holds one) waits for BullMQ to drain until the grace at
    // most, then closes what is left without Redis: nothing is given up.
    expect(codes, `${api.child.output()}\n${worker.output()}\n${standalone.output()}`).toEqual([0, 0, 0]);
    for (const child of [api.child, worker, standalone]) expect(child.output()).not.toContain('stopping took too long');
  }, 30_000);
});

describe('Redis down when a process starts', () => {
  it('the API stays up and unready, the worker waits; both work once Redis comes, without a restart', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const api = await apiProcess({ REDIS_URL: url });
    const worker = runEntry('apps/worker/src/main.ts', { REDIS_URL: url, STAGE_DELAY_MS: '0', LOG_LEVEL: 'warn' });
    children.push(worker);
    expect((await request(`${api.url}/readyz`)).status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(api.child.process.exitCode).toBeNull();
    expect(worker.process.exitCode).toBeNull();

    const redis = await startTestRedis({ port });
    try {
      await waitForOk(`${api.url}/readyz`, 10_000);
      const { status, body } = await submit(api.url, BEES);
      expect(status).toBe(202);
      const watcher = await SseClient.open(`${api.url}/v1/jobs/${body.jobId}/events`).finished(20_000);
      expect(watcher.events.at(-1)!.json.status).toBe('done');
    } finally {
      for (const child of children.splice(0)) {
        child.process.kill('SIGKILL');
        await child.exited();
      }
      await redis.stop();
    }
  });
});
