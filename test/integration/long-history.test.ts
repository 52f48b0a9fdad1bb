import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventPublisher, keys } from '@herald/shared';
import { submit } from '../support/http.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// A history larger than any socket buffer, paced by the client's reading ('drain') on both of the
// front's paths: heads read without node:http's parser (http/bare/bare-exchange.ts) and by node:http.

let system: TestSystem;
let api: string;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, workers: 0 });
  api = system.apis[0]!.url;
});
afterAll(() => system.close());

describe('a long history read slowly', () => {
  /** A raw client that writes `head` in the given parts and reads slowly: it pauses after each read. */
  async function readSlowly(parts: readonly string[]): Promise<{ body: string; received: number; stalled: boolean }> {
    const socket = connect(Number(new URL(api).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    for (const [i, part] of parts.entries()) {
      socket.write(part);
      if (i < parts.length - 1) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const chunks: Buffer[] = [];
    const stalled = await new Promise<boolean>((resolve) => {
      // A stream that sends nothing for 3 s has stalled (the history is all in Redis already).
      const idle = setTimeout(() => {
        socket.destroy();
        resolve(true);
      }, 3000);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        idle.refresh();
        socket.pause();
        setTimeout(() => socket.resume(), chunks.length % 8 === 0 ? 20 : 1);
      });
      socket.on('close', () => {
        clearTimeout(idle);
        resolve(false);
      });
    });
    const response = Buffer.concat(chunks);
    // `Connection: close` and no length: the body is everything after the head, to the close.
    return { body: response.toString('utf8', response.indexOf('\r\n\r\n') + 4), received: response.length, stalled };
  }

  it('reaches every client byte for byte, however its head arrived (one write, split, or read by node:http)', async () => {
    // A finished job with ~5 MB of history, published as Herald's workers publish.
    const jobId = (await submit(api, BEES)).body.jobId as string;
    const publisher = new EventPublisher(system.redis, { ttlSeconds: 600, streamMaxLen: 100_000 });
    const filler = 'y'.repeat(50_000);
    for (let i = 0; i < 100; i += 1) {
      await publisher.publish(jobId, { status: 'processing', progress: Math.min(99, i), message: `${i} ${filler}` });
    }
    await publisher.publish(jobId, { status: 'done', progress: 100, message: 'done', result: 'ok' });
    const entries = (await system.redis.xrange(keys.events(jobId), '-', '+')) as [string, string[]][];
    const history = entries.map(([id, fields]) => `id: ${id}\ndata: ${fields[fields.indexOf('d') + 1]}\n\n`).join('');
    expect(history.length).toBeGreaterThan(5_000_000);

    const target = `GET /v1/jobs/${jobId}/events HTTP/1.1\r\n`;
    const heads = {
      'one write': [`${target}Host: test\r\nAccept: text/event-stream\r\n\r\n`],
      split: [`${target}Ho`, 'st: test\r\nAccept: text/event-stream\r\n\r\n'],
      // A repeated header: only node:http reads such a head (http/bare/simple-head.ts).
      'node:http': [`${target}Host: test\r\nAccept: text/event-stream\r\nAccept: */*\r\n\r\n`],
    };
    const read: Record<string, { body: string; received: number; stalled: boolean }> = {};
    for (const [how, parts] of Object.entries(heads)) {
      read[how] = await readSlowly(parts);
      console.info(`[long-history] ${how}: ${read[how].received} bytes read${read[how].stalled ? ', then nothing for 3 s' : ''}`);
    }
    for (const [how, { body, stalled }] of Object.entries(read)) {
      expect(stalled, how).toBe(false);
      // The history, after the `retry:` frame, with any heartbeat (a `:` comment) between frames left out.
      const events = body.replace(/^retry: \d+\n\n/, '').replaceAll('\n\n:\n\n', '\n\n');
      expect(events === history, how).toBe(true);
    }
  }, 60_000);
});
