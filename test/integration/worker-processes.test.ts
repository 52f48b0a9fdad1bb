import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExactHistory } from '../support/assertions.ts';
import { runEntry, type Child } from '../support/child.ts';
import { request, submit } from '../support/http.ts';
import { redisEnv } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// What docs/api.md promises of worker processes that stop, die or cannot open their metrics
// port: a job outlasting SHUTDOWN_GRACE_MS, a job whose workers keep dying (job_stalled),
// METRICS_PORT in use. Workers are processes (`npm run start:worker`), behind an in-process API.
//
// Every worker here has JOB_LOCK_MS 1000: a worker's stalled-job check holds off every other
// worker's for half its own JOB_LOCK_MS (BullMQ's stalled-check key), so one with the default
// (30 s) would delay the others' for 15 s.
const WORKER_ENV = { ...redisEnv(), HOST: '127.0.0.1', METRICS_PORT: '0', JOB_LOCK_MS: '1000', STAGE_DELAY_MS: '0', LOG_LEVEL: 'warn' };

let system: TestSystem;
let api: string;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, workers: 0 });
  api = system.apis[0]!.url;
});
afterAll(() => system.close());

describe('a worker process whose job outlasts SHUTDOWN_GRACE_MS', () => {
  it('abandons the job at the grace and exits 0; another worker takes it up, and it ends once, done', async () => {
    const env = { ...WORKER_ENV, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' };
    // Three stages of 2 s: the job needs 6 s, the grace is 500 ms.
    const first = runEntry('apps/worker/src/main.ts', { ...env, STAGE_DELAY_MS: '2000', SHUTDOWN_GRACE_MS: '500' });
    const { body } = await submit(api, BEES);
    const watcher = SseClient.open(`${api}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'), 15_000);

    const signalled = Date.now();
    first.process.kill('SIGTERM');
    expect(await first.exited()).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(500 + 3000); // the grace, then closing its connections (the job needs 6 s)
    expect(first.output()).toContain('shutdown grace period over');
    // Abandoned, not ended: the job is still running as far as anyone can tell.
    expect((await request(`${api}/v1/jobs/${body.jobId}`)).body.status).toBe('processing');
    expect(watcher.events.some((event) => ['done', 'error', 'cancelled'].includes(event.json.status))).toBe(false);

    const second = runEntry('apps/worker/src/main.ts', { ...env, STAGE_DELAY_MS: '0' });
    try {
      await watcher.finished(15_000);
    } finally {
      second.process.kill('SIGTERM');
      await second.exited();
    }
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    expect(watcher.events.filter((event) => ['done', 'error', 'cancelled'].includes(event.json.status))).toHaveLength(1);
    expect(watcher.events.filter((event) => event.json.stage === 'received')).toHaveLength(2); // the run again
    await expectExactHistory(system.redis, body.jobId, watcher.events);
  });
});

describe('a job whose workers keep dying mid-job', () => {
  it('is run again after each, until its runs were abandoned more than JOB_ATTEMPTS times: then it ends job_stalled', async () => {
    // JOB_ATTEMPTS=1: one abandoned run is taken up again, a second one ends the job.
    const env = { ...WORKER_ENV, JOB_ATTEMPTS: '1', STAGE_DELAY_MS: '2000' };
    const { body } = await submit(api, BEES);
    const watcher = SseClient.open(`${api}/v1/jobs/${body.jobId}/events`);
    const workers: Child[] = [];
    try {
      for (const run of [1, 2]) {
        const worker = runEntry('apps/worker/src/main.ts', env);
        workers.push(worker);
        await watcher.waitFor((client) => client.events.filter((event) => event.json.stage === 'received').length === run, 15_000);
        worker.process.kill('SIGKILL');
        await worker.exited();
      }
      workers.push(runEntry('apps/worker/src/main.ts', env));
      await watcher.finished(15_000);
    } finally {
      for (const worker of workers) worker.process.kill('SIGKILL');
    }
    const last = watcher.events.at(-1)!.json;
    expect(last).toMatchObject({ status: 'error', error: { code: 'job_stalled' } });
    expect(watcher.events.filter((event) => ['done', 'error', 'cancelled'].includes(event.json.status))).toHaveLength(1);
    expect(watcher.events.filter((event) => event.json.stage === 'received')).toHaveLength(2); // the third worker never ran it
    expect((await request(`${api}/v1/jobs/${body.jobId}`)).body).toMatchObject({ status: 'error', error: last.error });
    await expectExactHistory(system.redis, body.jobId, watcher.events);
  });
});

describe('a worker process whose METRICS_PORT is in use', () => {
  it('logs it and runs without /metrics: its jobs still run, and the port stays its owner’s', async () => {
    const owner = createServer((_req, res) => res.end('not herald'));
    await new Promise<void>((resolve) => owner.listen(0, '127.0.0.1', resolve));
    const port = (owner.address() as AddressInfo).port;
    const worker = runEntry('apps/worker/src/main.ts', { ...WORKER_ENV, METRICS_PORT: String(port), LOG_LEVEL: 'info' });
    try {
      const { body } = await submit(api, BEES);
      const watcher = await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished(15_000);
      expect(watcher.events.at(-1)!.json.status).toBe('done');
      const logged = worker
        .output()
        .split('\n')
        .filter((line) => line.includes('metrics server could not listen'))
        .map((line) => JSON.parse(line));
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ level: 'error', port, err: { code: 'EADDRINUSE' } });
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toBe('not herald');
      worker.process.kill('SIGTERM');
      expect(await worker.exited()).toBe(0);
    } finally {
      worker.process.kill('SIGKILL');
      await new Promise((resolve) => owner.close(resolve));
    }
  });
});
