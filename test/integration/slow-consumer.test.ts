import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParser } from 'eventsource-parser';
import { EventPublisher } from '@herald/shared';
import { expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { SseClient, type ReceivedEvent } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

let system: TestSystem;
let api: string;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, workers: 0, env: { SSE_MAX_BACKLOG_BYTES: '65536' } });
  api = system.apis[0]!.url;
});
afterAll(() => system.close());

const cutOffs = async (): Promise<number> => {
  const metrics = (await request(`${api}/metrics`)).body as string;
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
    // Measured, not judged (timings belong to the bench): how long the reader waited at worst.
    console.info(`[slow-consumer] the reading watcher had every one of ${published} events within ${slowest.toFixed(0)} ms of each batch`);

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
