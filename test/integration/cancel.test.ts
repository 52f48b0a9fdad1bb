import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

describe('cancelling a queued job (no worker running)', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ redisUrl: inject('redisUrl'), workers: 0 });
  });
  afterAll(() => system.close());

  it('ends it with a cancelled event, from the other replica, and it never runs', async () => {
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
    // Gone from the queue: a worker started now finds nothing to run.
    expect(await system.redis.exists(`{herald}:summarize:${body.jobId}`)).toBe(0);
    expect((await request(`${b}/v1/jobs/${body.jobId}`, { method: 'DELETE' })).status).toBe(409);
  });
});

describe('cancelling a running job', () => {
  let system: TestSystem;
  beforeAll(async () => {
    // Slow stages: the job is certainly mid-run when the cancel lands.
    system = await startSystem({ redisUrl: inject('redisUrl'), env: { STAGE_DELAY_MS: '5000' } });
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
