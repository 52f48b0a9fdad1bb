import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submit, request } from '../support/http.ts';
import { runEntry } from '../support/child.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { redisEnv } from '../support/redis-target.ts';

// The worker as its own process (`npm run start:worker`), behind an in-process API replica.
let system: TestSystem;
let api: string;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, workers: 0, env: { MAX_SSE_CLIENTS: '3' } });
  api = system.apis[0]!.url;
});
afterAll(() => system.close());

describe('a worker process on SIGTERM', () => {
  it('stops taking jobs, lets the active one finish, and exits 0', async () => {
    const worker = runEntry('apps/worker/src/main.ts', {
      ...redisEnv(),
      STAGE_DELAY_MS: '400',
      WORKER_CONCURRENCY: '1',
      LOG_LEVEL: 'info',
    });
    const active = await submit(api, BEES);
    const watcher = SseClient.open(`${api}/v1/jobs/${active.body.jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'), 15_000);

    worker.process.kill('SIGTERM');
    const later = await submit(api, BEES);
    await watcher.finished(10_000);
    expect(watcher.events.at(-1)!.json.status).toBe('done');
    expect(await worker.exited()).toBe(0);
    expect(worker.output()).toContain('worker stopped');
    // Submitted after the signal: nobody took it.
    expect((await request(`${api}/v1/jobs/${later.body.jobId}`)).body.status).toBe('queued');
    watcher.close();
  });
});

describe('a full replica', () => {
  it('turns further watchers away with 503 and Retry-After', async () => {
    const { body } = await submit(api, BEES);
    const clients = [1, 2, 3].map(() => SseClient.open(`${api}/v1/jobs/${body.jobId}/events`));
    await Promise.all(clients.map((client) => client.waitFor((c) => c.events.length >= 1)));
    const turnedAway = await request(`${api}/v1/jobs/${body.jobId}/events`);
    expect(turnedAway.status).toBe(503);
    expect(turnedAway.body.error.code).toBe('replica_full');
    expect(Number(turnedAway.headers.get('retry-after'))).toBeGreaterThan(0);
    clients[0]!.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const admitted = SseClient.open(`${api}/v1/jobs/${body.jobId}/events`);
    await admitted.waitFor((c) => c.events.length >= 1);
    expect(admitted.status).toBe(200);
    for (const client of [...clients, admitted]) client.close();
  });
});
