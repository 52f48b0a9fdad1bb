import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '@herald/shared';
import { request } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// docs/api.md's promises about how streams end and what they carry, end to end on real Redis:
// a draining replica's spread of `retry:` hints (DRAIN_SPREAD_MS), the pace of stream ends
// (STREAM_END_RATE), the typed names of a summary being written and of every end, and a resync
// that carries the text written so far to a cursor the history no longer serves.

const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });

interface External {
  readonly jobId: string;
  publish(event: unknown): ReturnType<typeof request>;
}

async function createExternal(base: string): Promise<External> {
  const created = await request(`${base}/v1/jobs`, { json: { kind: 'external' } });
  expect(created.status).toBe(202);
  const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };
  return { jobId, publish: (event) => request(`${base}/v1/jobs/${jobId}/events`, { json: event, headers: bearer(publishToken) }) };
}

describe('a draining replica spreads its watchers’ reconnects over DRAIN_SPREAD_MS', () => {
  const RETRY_MS = 200;
  const SPREAD_MS = 4000;
  const WATCHERS = 20;
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({
      replicas: 1,
      workers: 0,
      env: { SSE_RETRY_MS: String(RETRY_MS), DRAIN_SPREAD_MS: String(SPREAD_MS), SHUTDOWN_GRACE_MS: '500' },
    });
  });
  afterAll(() => system.close());

  it('closes every stream with its own retry:, evenly from SSE_RETRY_MS to SSE_RETRY_MS + DRAIN_SPREAD_MS', async () => {
    const api = system.apis[0]!;
    const jobs = await Promise.all(Array.from({ length: 4 }, () => createExternal(api.url)));
    const watchers = Array.from({ length: WATCHERS }, (_, i) =>
      SseClient.open(`${api.url}/v1/jobs/${jobs[i % jobs.length]!.jobId}/events`),
    );
    await Promise.all(watchers.map((watcher) => watcher.waitFor((client) => client.events.length === 1)));
    // Each opened with the ordinary hint.
    for (const watcher of watchers) expect(watcher.retries.map((retry) => retry.ms)).toEqual([RETRY_MS]);

    await api.close();
    system.apis.length = 0; // closed here, not again in afterAll
    await Promise.all(watchers.map((watcher) => watcher.finished(5000)));
    // Each got one more retry: after its events, before its end; together they are the window's
    // even steps, one per watcher (which watcher gets which step is the replica's business).
    for (const watcher of watchers) {
      expect(watcher.retries).toHaveLength(2);
      expect(watcher.retries[1]!.afterEvents).toBe(watcher.events.length);
    }
    const hints = watchers.map((watcher) => watcher.retries[1]!.ms).sort((x, y) => x - y);
    expect(hints).toEqual(Array.from({ length: WATCHERS }, (_, i) => RETRY_MS + Math.floor((i * SPREAD_MS) / WATCHERS)));
  });
});

describe('STREAM_END_RATE paces the ends of streams whose job ends, not their terminal events', () => {
  const RATE = 200; // one end per 5 ms tick
  const WATCHERS = 50;
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0, env: { STREAM_END_RATE: String(RATE) } });
  });
  afterAll(() => system.close());

  it(`${WATCHERS} streams of a job that ends: each gets the terminal event at once, the streams end at most ${RATE} a second`, async () => {
    const url = system.apis[0]!.url;
    // One job's watchers get its terminal event in the same instant: as many streams to end at once
    // as a burst of jobs finishing together would give.
    const job = await createExternal(url);
    const watchers = Array.from({ length: WATCHERS }, () => SseClient.open(`${url}/v1/jobs/${job.jobId}/events`));
    await Promise.all(watchers.map((watcher) => watcher.waitFor((client) => client.events.length === 1)));

    const endedAt = new Map<SseClient, number>();
    for (const watcher of watchers) void watcher.done.then(() => endedAt.set(watcher, performance.now()));
    const terminalAt = new Map<SseClient, number>();
    for (const watcher of watchers) {
      void watcher
        .waitFor((client) => client.events.some((event) => event.json.status === 'done'), 10_000)
        .then(() => {
          terminalAt.set(watcher, performance.now());
        });
    }
    expect((await job.publish({ status: 'done', result: 'ok' })).status).toBe(201);
    await Promise.all(watchers.map((watcher) => watcher.finished(10_000)));

    for (const watcher of watchers) {
      expect(watcher.events.map((event) => event.json.status)).toEqual(['queued', 'done']);
      expect(terminalAt.get(watcher)!).toBeLessThanOrEqual(endedAt.get(watcher)!);
    }
    const terminals = [...terminalAt.values()];
    const ends = [...endedAt.values()];
    const endSpread = Math.max(...ends) - Math.min(...ends);
    // At most RATE a second: WATCHERS ends take at least (WATCHERS - 1) / RATE seconds (245 ms
    // here; a margin for the client's own timing)…
    const least = ((WATCHERS - 1) / RATE) * 1000;
    expect(endSpread).toBeGreaterThanOrEqual(least * 0.8);
    // …while the terminal events were not held back for them: every one had arrived long before the last end.
    expect(Math.max(...terminals)).toBeLessThan(Math.max(...ends) - least * 0.5);
  });
});

describe('typed events and a resync carrying the text so far', () => {
  let system: TestSystem;
  let url: string;
  beforeAll(async () => {
    // STREAM_MAXLEN at its least, so a long answer trims its history; no publish rate here.
    system = await startSystem({ replicas: 1, workers: 0, env: { STREAM_MAXLEN: '10', PUBLISH_RATE_PER_JOB: '0' } });
    url = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('?typed=1 names a summary being written delta, and each end done, error or cancelled', async () => {
    const written = await createExternal(url);
    const failed = await createExternal(url);
    const cancelled = await createExternal(url);
    const watch = (job: External) => SseClient.open(`${url}/v1/jobs/${job.jobId}/events?typed=1`);
    const watchers = [watch(written), watch(failed), watch(cancelled)];
    await Promise.all(watchers.map((watcher) => watcher.waitFor((client) => client.events.length === 1)));

    expect((await written.publish({ status: 'processing', progress: 10, message: 'thinking' })).status).toBe(201);
    expect((await written.publish({ status: 'processing', progress: 20, delta: 'Bees ', offset: 0 })).status).toBe(201);
    expect((await written.publish({ status: 'processing', progress: 30, delta: 'dance.', offset: 5 })).status).toBe(201);
    expect((await written.publish({ status: 'done', result: 'Bees dance.' })).status).toBe(201);
    expect((await failed.publish({ status: 'error', error: { code: 'upstream', message: 'It broke' } })).status).toBe(201);
    expect((await request(`${url}/v1/jobs/${cancelled.jobId}`, { method: 'DELETE' })).status).toBe(202);
    await Promise.all(watchers.map((watcher) => watcher.finished()));

    const named = (watcher: SseClient) => watcher.events.map((event) => [event.name, event.json.status]);
    expect(named(watchers[0]!)).toEqual([
      ['progress', 'queued'],
      ['progress', 'processing'],
      ['delta', 'processing'],
      ['delta', 'processing'],
      ['done', 'done'],
    ]);
    expect(named(watchers[1]!)).toEqual([
      ['progress', 'queued'],
      ['error', 'error'],
    ]);
    expect(named(watchers[2]!)).toEqual([
      ['progress', 'queued'],
      ['cancelled', 'cancelled'],
    ]);
    expect(watchers[1]!.events[1]!.json.error).toEqual({ code: 'upstream', message: 'It broke' });
    // The multi-job stream names each job's events the same way.
    const many = await SseClient.open(
      `${url}/v1/events?typed=1&jobs=${[written, failed, cancelled].map((job) => job.jobId).join(',')}`,
    ).finished();
    for (const [i, job] of [written, failed, cancelled].entries()) {
      expect(many.events.filter((event) => event.json.jobId === job.jobId).map((event) => [event.name, event.json.status])).toEqual(
        named(watchers[i]!),
      );
    }
    // Without ?typed=1 the same history has no names at all.
    const plain = await SseClient.open(`${url}/v1/jobs/${written.jobId}/events`).finished();
    expect(plain.events.map((event) => event.name)).toEqual(plain.events.map(() => undefined));
  });

  it('a cursor trimmed away while the summary is being written gets a resync with partial, then folds to the result', async () => {
    const job = await createExternal(url);
    const first = await request(`${url}/v1/jobs/${job.jobId}`);
    const cursor = first.body.lastEventId as string;
    // 300 deltas: MAXLEN ~ 10 drops whole Stream nodes (100 entries each), the cursor's among them.
    let text = '';
    for (let i = 0; i < 300; i += 1) {
      const delta = `w${i}é `;
      expect((await job.publish({ status: 'processing', delta, offset: text.length })).status).toBe(201);
      text += delta;
    }
    // The cursor's event is gone from the Stream: the history after it can no longer be served.
    const [oldest] = await system.redis.xrange(keys.events(job.jobId), '-', '+', 'COUNT', 1);
    expect(oldest![0]).not.toBe(cursor);

    for (const typed of [false, true]) {
      const resumed = SseClient.open(`${url}/v1/jobs/${job.jobId}/events${typed ? '?typed=1' : ''}`, { 'Last-Event-ID': cursor });
      await resumed.waitFor((client) => client.events.length === 1);
      const [resync] = resumed.events;
      const snapshot = (await request(`${url}/v1/jobs/${job.jobId}`)).body;
      expect(resync!.json).toMatchObject({ jobId: job.jobId, resync: true, status: 'processing', partial: text });
      expect(resync!.id).toBe(snapshot.lastEventId);
      expect(resync!.name).toBe(typed ? 'resync' : undefined);
      resumed.close();
    }

    // A client that folds from the resync on ends with exactly the result.
    const resumed = SseClient.open(`${url}/v1/jobs/${job.jobId}/events`, { 'Last-Event-ID': cursor });
    await resumed.waitFor((client) => client.events.length === 1);
    expect((await job.publish({ status: 'processing', delta: 'end.', offset: text.length })).status).toBe(201);
    expect((await job.publish({ status: 'done', result: `${text}end.` })).status).toBe(201);
    await resumed.finished();
    let partial = '';
    for (const event of resumed.events) {
      const json = event.json as { resync?: boolean; partial?: string; delta?: string; offset?: number; result?: string };
      if (json.resync) partial = json.partial ?? '';
      else if (json.delta !== undefined) partial = partial.slice(0, json.offset) + json.delta;
    }
    expect(partial).toBe(`${text}end.`);
    expect(resumed.events.at(-1)!.json).toMatchObject({ status: 'done', result: `${text}end.` });
  });
});
