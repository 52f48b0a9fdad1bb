import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@herald/shared';
import { startWorker, type RunningWorker } from '@herald/worker-process';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

describe('cancelling a queued job (no worker running yet)', () => {
  let system: TestSystem;
  let worker: RunningWorker | undefined;
  beforeAll(async () => {
    system = await startSystem({ workers: 0 });
  });
  afterAll(async () => {
    await worker?.close();
    await system.close();
  });

  it('ends it with a cancelled event, from the other replica, and no worker started afterwards ever runs it', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const { body } = await submit(a, BEES);
    const watcher = SseClient.open(`${a}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor((client) => client.events.length === 1);

    const cancel = await request(`${b}/v1/jobs/${body.jobId}`, { method: 'DELETE' });
    expect(cancel.status).toBe(202);
    expect(cancel.body).toMatchObject({ jobId: body.jobId, status: 'cancelled' });
    await watcher.finished();
    expect(watcher.events.map((event) => event.json.status)).toEqual(['queued', 'cancelled']);
    await expectExactHistory(system.redis, body.jobId, watcher.events);
    expect((await request(`${b}/v1/jobs/${body.jobId}`, { method: 'DELETE' })).status).toBe(409);

    // Now a worker comes. It takes every job in the queue in order: once the job submitted after
    // the cancelled one is done, the queue has been worked through, and the cancelled job must
    // not have been started (a run would log "job started" with its id, whatever it published).
    const lines: { msg: string; jobId?: string }[] = [];
    const logger = createLogger('worker', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    worker = await startWorker({ config: system.config, logger });
    const next = await submit(a, BEES);
    const after = await SseClient.open(`${a}/v1/jobs/${next.body.jobId}/events`).finished(15_000);
    expect(after.events.at(-1)!.json.status).toBe('done');
    expect(lines.filter((line) => line.msg === 'job started').map((line) => line.jobId)).toEqual([next.body.jobId]);
    const snapshot = await request(`${b}/v1/jobs/${body.jobId}`);
    expect(snapshot.body).toMatchObject({ status: 'cancelled', lastEventId: watcher.lastEventId });
  });
});

describe('cancelling a running job', () => {
  let system: TestSystem;
  beforeAll(async () => {
    // Slow stages: the job is certainly mid-run when the cancel lands.
    system = await startSystem({ env: { STAGE_DELAY_MS: '5000' } });
  });
  afterAll(() => system.close());

  it('stops it within a second with a cancelled event, asked on any replica', async () => {
    const [a, b] = system.apis.map((api) => api.url) as [string, string];
    const { body } = await submit(a, BEES);
    const watcher = SseClient.open(`${a}/v1/jobs/${body.jobId}/events`);
    await watcher.waitFor((client) => client.events.some((event) => event.json.stage === 'received'));

    const asked = Date.now();
    expect((await request(`${b}/v1/jobs/${body.jobId}`, { method: 'DELETE' })).status).toBe(202);
    await watcher.finished(1000);
    expect(Date.now() - asked).toBeLessThan(1000);
    expect(watcher.events.map((event) => event.json.status)).toEqual(['queued', 'processing', 'cancelled']);
    expect(watcher.events.at(-1)!.json.progress).toBe(10);
    await expectExactHistory(system.redis, body.jobId, watcher.events);
    const snapshot = await request(`${b}/v1/jobs/${body.jobId}`);
    expect(snapshot.body).toMatchObject({ status: 'cancelled', progress: 10, lastEventId: watcher.lastEventId });
  });
});
