import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParser } from 'eventsource-parser';
import { EventPublisher } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { commandCalls } from '../support/redis-target.ts';
import { stalledReader } from '../support/stalled-reader.ts';
import { SseClient, type ReceivedEvent } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

let system: TestSystem;
let api: string;
/** The replica's heartbeat: a reader held up by another client's backlog would wait on that scale. */
const HEARTBEAT_MS = 500;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, workers: 0, env: { SSE_MAX_BACKLOG_BYTES: '65536', HEARTBEAT_MS: String(HEARTBEAT_MS) } });
  api = system.apis[0]!.url;
});
afterAll(() => system.close());

const cutOffs = async (url = api): Promise<number> => {
  const metrics = (await request(`${url}/metrics`)).body as string;
  return Number(/herald_sse_streams_ended_total\{how="cut-off"\} (\d+)/.exec(metrics)?.[1] ?? 0);
};

describe('a client that stops reading', () => {
  it('is cut off at its backlog bound, resumes from its cursor with nothing lost, and slows no one else', async () => {
    const { body } = await submit(api, BEES);
    const jobId = body.jobId as string;
    const { port } = new URL(api);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(`GET /v1/jobs/${jobId}/events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n`);
    const received: Buffer[] = [];
    socket.once('data', (chunk: Buffer) => {
      received.push(chunk);
      socket.pause(); // from here on the client reads nothing
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // A watcher that keeps reading, on the same job and replica, must not suffer for the other.
    const healthy = SseClient.open(`${api}/v1/jobs/${jobId}/events`);
    await healthy.waitFor((client) => client.events.length === 1);

    // 2 KB messages until the kernel's socket buffers are full and the replica's backlog passes 64 KB.
    const publisher = new EventPublisher(system.redis, { ttlSeconds: 600, streamMaxLen: 100_000 });
    const filler = 'x'.repeat(2048);
    let published = 1; // the queued event
    let slowest = 0;
    for (let i = 0; i < 5000 && (await cutOffs()) === 0; i += 1) {
      await Promise.all(
        Array.from({ length: 50 }, (_, k) =>
          publisher.publish(jobId, { status: 'processing', progress: 50, message: `${i * 50 + k} ${filler}` }),
        ),
      );
      published += 50;
      // The reading watcher keeps pace batch by batch while the other's backlog builds up:
      // everything published so far reaches it, whatever the stalled client does.
      const asked = performance.now();
      await healthy.waitFor((client) => client.events.length === published, 5000);
      slowest = Math.max(slowest, performance.now() - asked);
    }
    expect(await cutOffs()).toBe(1);
    expect(published).toBeGreaterThan(50); // the stalled client was cut off under load, not at once
    expect(healthy.events).toHaveLength(published);
    console.info(`[slow-consumer] the reading watcher had every one of ${published} events within ${slowest.toFixed(0)} ms of each batch`);
    // Slowed by no one: each batch of 50 reached the reader well within a heartbeat (tens of ms
    // measured), however full the stalled client's backlog was.
    expect(slowest, 'the reader’s longest wait for a batch (ms)').toBeLessThan(HEARTBEAT_MS);

    // The client reads what did reach it, then comes back with the last complete event's id.
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await closed;
    const events: ReceivedEvent[] = [];
    const parser = createParser({ onEvent: (event) => events.push({ id: event.id, data: event.data, json: JSON.parse(event.data) }) });
    const text = Buffer.concat(received).toString('utf8');
    parser.feed(
      text
        .slice(text.indexOf('\r\n\r\n') + 4)
        .replace(/\r\n[0-9a-f]+\r\n/g, '')
        .replace(/^[0-9a-f]+\r\n/, ''),
    );
    expect(events.length).toBeGreaterThan(1);

    await publisher.publish(jobId, { status: 'done', progress: 100, message: 'done', result: 'ok' });
    const resumed = await SseClient.open(`${api}/v1/jobs/${jobId}/events`, { 'Last-Event-ID': events.at(-1)!.id! }).finished();
    await expectExactHistory(system.redis, jobId, [...events, ...resumed.events]);
    await healthy.finished();
    await expectExactHistory(system.redis, jobId, healthy.events);
  }, 60_000);
});

/** The events in a close-delimited stream's raw bytes (head included). */
function eventsIn(raw: Buffer): ReceivedEvent[] {
  const events: ReceivedEvent[] = [];
  const parser = createParser({ onEvent: (event) => events.push({ id: event.id, data: event.data, json: JSON.parse(event.data) }) });
  const text = raw.toString('utf8');
  parser.feed(text.slice(text.indexOf('\r\n\r\n') + 4));
  return events;
}

describe('a long history, read by clients that stop reading', () => {
  const PAGE = 10;
  const EVENTS = 200;
  const DEADLINE_MS = 3000;
  let paged: TestSystem;
  let url: string;
  let jobId: string;

  beforeAll(async () => {
    paged = await startSystem({
      replicas: 1,
      workers: 0,
      env: { HISTORY_PAGE_EVENTS: String(PAGE), SSE_WRITE_DEADLINE_MS: String(DEADLINE_MS), HEARTBEAT_MS: '100' },
    });
    url = paged.apis[0]!.url;
    jobId = (await submit(url, BEES)).body.jobId as string;
    // ~10 MB of history in events of ~50 KB, published as Herald's workers publish them.
    const publisher = new EventPublisher(paged.redis, { ttlSeconds: 600, streamMaxLen: 100_000 });
    for (let i = 0; i < EVENTS; i += 1) {
      await publisher.publish(jobId, { status: 'processing', progress: 50, message: `${i} ${'m'.repeat(50_000)}` });
    }
    await publisher.publish(jobId, { status: 'done', progress: 100, message: 'done', result: 'ok' });
  }, 60_000);
  afterAll(() => paged.close());

  it('each holds a page, not the history: pages are read as a client reads, and the ones that never read are cut off at the deadline', async () => {
    const before = await commandCalls(paged.redis, 'xrange');
    const cutBefore = await cutOffs(url);
    const readers = await Promise.all(Array.from({ length: 4 }, () => stalledReader(url, `/v1/jobs/${jobId}/events`)));
    // Stalled: the pages read stop growing once the sockets are full.
    let stalled = await commandCalls(paged.redis, 'xrange');
    for (let settled = 0; settled < 3; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = await commandCalls(paged.redis, 'xrange');
      settled = now === stalled ? settled + 1 : 0;
      stalled = now;
    }
    const total = EVENTS + 2; // queued, the 200, done
    const pages = Math.ceil(total / PAGE);
    // Stuck readers stopped well short of their histories (the rest sits in Redis, not in the replica).
    expect(stalled - before).toBeLessThan(readers.length * pages);
    expect(readers.every((reader) => !reader.socket.destroyed)).toBe(true);

    // One reads on: its pages are read as it reads, and it gets the whole history, exactly.
    const [reading, ...stuck] = readers;
    console.info(`[slow-consumer] ${readers.length} stalled readers of a ${pages}-page history had ${stalled - before} pages read`);
    await expectExactHistory(paged.redis, jobId, eventsIn(await reading!.resume()));
    expect((await commandCalls(paged.redis, 'xrange')) - stalled).toBeGreaterThan(0);

    // The others never drained: cut off after SSE_WRITE_DEADLINE_MS (plus at most a heartbeat), history and all.
    // (Its socket is gone from the replica; the client, which reads nothing, cannot see that.)
    const cutAt = Date.now();
    while ((await cutOffs(url)) < cutBefore + stuck.length && Date.now() - cutAt < 2 * DEADLINE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await cutOffs(url)).toBe(cutBefore + stuck.length);
    // Whatever they had received is a prefix of the history: they resume from its last id.
    const got = eventsIn(stuck[0]!.received());
    expect(got.length).toBeLessThan(total);
    const resumed = await stalledReader(url, `/v1/jobs/${jobId}/events`, got.length > 0 ? { 'Last-Event-ID': got.at(-1)!.id! } : {});
    await expectExactHistory(paged.redis, jobId, [...got, ...eventsIn(await resumed.resume())]);
  }, 60_000);
});
