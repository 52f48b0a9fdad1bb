import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds, parseStreamId } from '@herald/contract';
import { extractiveSummarizer } from '@herald/worker-process';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Two API replicas and a worker on one Redis: submit on one, watch on the other.
let system: TestSystem;
let a: string;
let b: string;

beforeAll(async () => {
  system = await startSystem({ env: { STAGE_DELAY_MS: '60' } });
  [a, b] = system.apis.map((api) => api.url) as [string, string];
});
afterAll(() => system.close());

async function submitted(text = BEES, maxSentences = 2): Promise<string> {
  const response = await submit(a, text, { maxSentences });
  expect(response.status).toBe(202);
  return response.body.jobId as string;
}

describe('submit', () => {
  it('answers 202 with the job, its links and a Location', async () => {
    const response = await submit(a, BEES);
    expect(response.status).toBe(202);
    const { jobId } = response.body;
    expect(jobId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(response.headers.get('location')).toBe(`/v1/jobs/${jobId}`);
    expect(response.body).toEqual({
      jobId,
      status: 'queued',
      links: { self: `/v1/jobs/${jobId}`, events: `/v1/jobs/${jobId}/events` },
    });
  });

  it('gives random, distinct ids', async () => {
    const ids = await Promise.all([1, 2, 3, 4].map(() => submitted()));
    expect(new Set(ids).size).toBe(4);
  });
});

describe('watching from another replica', () => {
  it('streams the whole job, queued to done, with the SSE headers and a retry line', async () => {
    const jobId = await submitted();
    const watcher = await SseClient.open(`${b}/v1/jobs/${jobId}/events`).finished();
    expect(watcher.status).toBe(200);
    expect(watcher.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(watcher.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(watcher.headers.get('x-accel-buffering')).toBe('no');
    expect(watcher.retry).toBe(system.config.SSE_RETRY_MS);

    // Every stage once, in the order the job went through them: queued to done.
    expect(watcher.events.map((event) => [event.json.status, event.json.stage])).toEqual([
      ['queued', 'queued'],
      ['processing', 'received'],
      ['processing', 'analyzing'],
      ['processing', 'summarizing'],
      ['processing', 'polishing'],
      ['done', 'done'],
    ]);
    const done = watcher.events.at(-1)!.json;
    expect(done).toMatchObject({ jobId, progress: 100 });
    expect(done.result).toBe(extractiveSummarizer.summarize(BEES, { maxSentences: 2 }).text);
    expect(typeof done.ts).toBe('number');
    await expectExactHistory(system.redis, jobId, watcher.events);
  });

  it('serves the same snapshot from either replica', async () => {
    const jobId = await submitted();
    const events = await SseClient.open(`${a}/v1/jobs/${jobId}/events`).finished();
    const [fromA, fromB] = await Promise.all([request(`${a}/v1/jobs/${jobId}`), request(`${b}/v1/jobs/${jobId}`)]);
    expect(fromA.status).toBe(200);
    expect(fromB.body).toEqual(fromA.body);
    const last = events.events.at(-1)!;
    expect(fromA.body).toMatchObject({
      jobId,
      status: 'done',
      progress: 100,
      result: last.json.result,
      lastEventId: last.id,
    });
    expect(fromA.body.createdAt).toBeLessThanOrEqual(fromA.body.updatedAt);
  });

  it('gives a late watcher the whole history, then ends the response', async () => {
    const jobId = await submitted();
    const live = await SseClient.open(`${a}/v1/jobs/${jobId}/events`).finished();
    const late = await SseClient.open(`${b}/v1/jobs/${jobId}/events`).finished();
    expect(late.events.map((event) => event.id)).toEqual(live.events.map((event) => event.id));
    await expectExactHistory(system.redis, jobId, late.events);
  });
});

describe('resuming', () => {
  it('resumes mid-job by Last-Event-ID on the other replica with nothing lost or repeated', async () => {
    const jobId = await submitted();
    const first = SseClient.open(`${a}/v1/jobs/${jobId}/events`);
    await first.waitFor((client) => client.events.length >= 2);
    first.close();
    const cursor = first.lastEventId!;
    const rest = await SseClient.open(`${b}/v1/jobs/${jobId}/events`, { 'Last-Event-ID': cursor }).finished();
    expect(compareStreamIds(parseStreamId(rest.events[0]!.id!)!, parseStreamId(cursor)!)).toBeGreaterThan(0);
    await expectExactHistory(system.redis, jobId, rest.events, cursor);
    await expectExactHistory(system.redis, jobId, [...first.events, ...rest.events]);
  });

  it('resumes by ?lastEventId= after the job ended', async () => {
    const jobId = await submitted();
    const all = await SseClient.open(`${a}/v1/jobs/${jobId}/events`).finished();
    const cursor = all.events[1]!.id!;
    const rest = await SseClient.open(`${b}/v1/jobs/${jobId}/events?lastEventId=${cursor}`).finished();
    expect(rest.events.map((event) => event.id)).toEqual(all.events.slice(2).map((event) => event.id));
  });

  it('prefers the Last-Event-ID header over the query parameter', async () => {
    const jobId = await submitted();
    const all = await SseClient.open(`${a}/v1/jobs/${jobId}/events`).finished();
    const [early, late] = [all.events[0]!.id!, all.events[3]!.id!];
    const rest = await SseClient.open(`${b}/v1/jobs/${jobId}/events?lastEventId=${early}`, { 'Last-Event-ID': late }).finished();
    expect(rest.events.map((event) => event.id)).toEqual(all.events.slice(4).map((event) => event.id));
  });

  it('answers 204 to a cursor at the terminal event, by header or query', async () => {
    const jobId = await submitted();
    const all = await SseClient.open(`${a}/v1/jobs/${jobId}/events`).finished();
    const terminal = all.lastEventId!;
    const byHeader = await fetch(`${b}/v1/jobs/${jobId}/events`, { headers: { 'Last-Event-ID': terminal } });
    const byQuery = await fetch(`${a}/v1/jobs/${jobId}/events?lastEventId=${terminal}`);
    expect([byHeader.status, byQuery.status]).toEqual([204, 204]);
    expect(await byHeader.text()).toBe('');
  });
});

describe('a cursor from the future', () => {
  it('on a running job: a resync with the job as it stands, then every event after it, to the end', async () => {
    const jobId = await submitted();
    // Ids going back is what a Redis failover that lost events looks like to a client.
    const watcher = SseClient.open(`${a}/v1/jobs/${jobId}/events`, { 'Last-Event-ID': '9999999999999-0' });
    await watcher.finished(10_000);
    expect(watcher.status).toBe(200);
    const [resync, ...rest] = watcher.events;
    expect(resync!.json).toMatchObject({ jobId, resync: true });
    // The resync carries the id of the event it stands for; what follows is exact from there.
    await expectExactHistory(system.redis, jobId, rest, resync!.id!);
    expect(rest.at(-1)!.json.status).toBe('done');
  });

  it('on a finished job: 204, like a cursor at its end', async () => {
    const jobId = await submitted();
    await SseClient.open(`${a}/v1/jobs/${jobId}/events`).finished();
    expect((await fetch(`${b}/v1/jobs/${jobId}/events`, { headers: { 'Last-Event-ID': '9999999999999-0' } })).status).toBe(204);
  });
});

describe('many jobs, many watchers', () => {
  it('delivers 50 concurrent jobs exactly to 3 watchers each across both replicas', async () => {
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => submitted(`${BEES} Job number ${i} is here.`)));
    const watchers = ids.flatMap((jobId, i) =>
      [0, 1, 2].map((w) => ({ jobId, client: SseClient.open(`${(i + w) % 2 ? a : b}/v1/jobs/${jobId}/events`) })),
    );
    await Promise.all(watchers.map(({ client }) => client.finished(25_000)));
    for (const { jobId, client } of watchers) {
      expect(client.events.at(-1)!.json.status).toBe('done');
      await expectExactHistory(system.redis, jobId, client.events);
    }
  }, 60_000);
});

describe('a history read in pages of two events', () => {
  let paged: TestSystem;
  let p: string;
  let q: string;
  beforeAll(async () => {
    paged = await startSystem({ env: { STAGE_DELAY_MS: '30', HISTORY_PAGE_EVENTS: '2' } });
    [p, q] = paged.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => paged.close());

  it('keeps every promise: history + live exact, each cursor resumed exactly on either replica, 204 at the end, a resync from the future', async () => {
    const jobId = (await submit(p, BEES, { maxSentences: 2 })).body.jobId as string;
    // Joined while the job runs: pages of history, then live, through the id gate.
    const live = SseClient.open(`${q}/v1/jobs/${jobId}/events`);
    await live.finished(20_000);
    await expectExactHistory(paged.redis, jobId, live.events);
    expect(live.events.length).toBeGreaterThan(4);
    // Every cursor, at page boundaries and between them.
    for (const [i, event] of live.events.slice(0, -1).entries()) {
      const rest = await SseClient.open(`${i % 2 ? p : q}/v1/jobs/${jobId}/events`, { 'Last-Event-ID': event.id! }).finished();
      await expectExactHistory(paged.redis, jobId, rest.events, event.id!);
    }
    expect((await fetch(`${p}/v1/jobs/${jobId}/events`, { headers: { 'Last-Event-ID': live.lastEventId! } })).status).toBe(204);
    expect((await fetch(`${q}/v1/jobs/${jobId}/events`, { headers: { 'Last-Event-ID': '9999999999999-0' } })).status).toBe(204);
  });

  it('several jobs on one connection: each job’s history in pages, exact', async () => {
    const ids = [(await submit(p, BEES, { maxSentences: 2 })).body.jobId as string, (await submit(q, BEES)).body.jobId as string];
    const together = await SseClient.open(`${p}/v1/events?jobs=${ids.join(',')}`).finished(20_000);
    for (const [k, jobId] of ids.entries()) {
      const own = together.events
        .filter((event) => event.json.jobId === jobId)
        .map((event) => ({ ...event, id: event.id!.split(',')[k]! }));
      await expectExactHistory(paged.redis, jobId, own);
    }
    // Resumed from the middle by the composite cursor, on the other replica: each job exactly from its part of it.
    const middle = together.events[Math.floor(together.events.length / 2)]!.id!.split(',');
    const rest = await SseClient.open(`${q}/v1/events?jobs=${ids.join(',')}`, { 'Last-Event-ID': middle.join(',') }).finished(20_000);
    for (const [k, jobId] of ids.entries()) {
      const own = rest.events.filter((event) => event.json.jobId === jobId).map((event) => ({ ...event, id: event.id!.split(',')[k]! }));
      if (own.length > 0) await expectExactHistory(paged.redis, jobId, own, middle[k]!);
      else
        expect(middle[k]).toBe(
          together.events
            .filter((event) => event.json.jobId === jobId)
            .at(-1)!
            .id!.split(',')[k],
        );
    }
  });
});
