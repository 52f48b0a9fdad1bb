import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventSource } from 'eventsource';
import { expectExactHistory } from '../support/assertions.ts';
import { submit } from '../support/http.ts';
import type { ReceivedEvent } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem({ env: { STAGE_DELAY_MS: '300', SSE_RETRY_MS: '50' } });
});
afterAll(() => system.close());

describe('a replica that shuts down mid-stream', () => {
  it("sends the seed's EventSource client to another replica, which resumes it exactly", async () => {
    const [a, b] = system.apis as [(typeof system.apis)[0], (typeof system.apis)[0]];
    const { body } = await submit(b.url, BEES);
    const jobId = body.jobId as string;

    // A load balancer in miniature: the first connection lands on A, every later one on B.
    const hosts: string[] = [];
    const lastEventIds: (string | null)[] = [];
    const source = new EventSource(`${a.url}/v1/jobs/${jobId}/events`, {
      fetch: (input, init) => {
        const target = hosts.length === 0 ? a.url : b.url;
        hosts.push(target);
        lastEventIds.push(new Headers(init?.headers).get('last-event-id'));
        return fetch(String(input).replace(a.url, target), init);
      },
    });
    const events: ReceivedEvent[] = [];
    const finished = new Promise<void>((resolve) => {
      source.onmessage = (message) => {
        const json = JSON.parse(message.data);
        events.push({ id: message.lastEventId, data: message.data, json });
        if (json.stage === 'received') void a.close();
        if (['done', 'error', 'cancelled'].includes(json.status)) {
          source.close();
          resolve();
        }
      };
    });
    await finished;

    expect(hosts).toEqual([a.url, b.url]);
    expect(lastEventIds[1]).toBe(events.find((event) => event.json.stage === 'received')!.id);
    expect(events.at(-1)!.json.status).toBe('done');
    await expectExactHistory(system.redis, jobId, events);
  });
});

/** Reads one HTTP/1.1 response off a socket: its status and JSON body. */
function response(socket: Socket): Promise<{ status: number; headers: Record<string, string>; body: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? Number.NaN);
      if (end < 0 || text.length < end + 4 + length) return;
      socket.off('data', onData);
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(text.slice(9, 12)), headers, body: JSON.parse(text.slice(end + 4, end + 4 + length)) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

const connected = async (url: string): Promise<Socket> => {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  return socket;
};

describe('a draining replica', () => {
  let drained: TestSystem;
  beforeAll(async () => {
    drained = await startSystem({ replicas: 1, workers: 0, env: { SHUTDOWN_GRACE_MS: '1500' } });
  });
  afterAll(() => drained.close());

  it('answers /readyz 503 and refuses new streams, takes no new connection, and waits SHUTDOWN_GRACE_MS at most', async () => {
    const api = drained.apis[0]!;
    const { body } = await submit(api.url, BEES);
    // Requests already on their way when the drain begins (a load balancer's probe, a watcher
    // reconnecting): their heads are half sent, so the server cannot drop them as idle…
    const probe = await connected(api.url);
    probe.write('GET /readyz HTTP/1.1\r\nHost: t\r\n');
    const watcher = await connected(api.url);
    watcher.write(`GET /v1/jobs/${body.jobId}/events HTTP/1.1\r\nHost: t\r\n`);
    // …and a request that never finishes arriving: it keeps the drain waiting for its grace.
    const stuck = await connected(api.url);
    stuck.write('POST /v1/jobs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"te');
    const stuckClosed = once(stuck, 'close');
    await new Promise((resolve) => setTimeout(resolve, 100));

    const started = performance.now();
    const closing = api.close();
    const ready = response(probe);
    probe.write('\r\n');
    const readiness = await ready;
    expect([readiness.status, readiness.body]).toEqual([503, { status: 'unavailable', redis: true, draining: true }]);
    const refused = response(watcher);
    watcher.write('\r\n');
    const stream = await refused;
    expect(stream.status).toBe(503);
    expect(stream.body.error.code).toBe('draining');
    expect(stream.headers['retry-after']).toBe('1'); // docs/api.md: `503 draining`, `Retry-After: 1`
    await expect(connected(api.url)).rejects.toThrow(/ECONNREFUSED/);

    await closing;
    await stuckClosed;
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(1400); // the stuck request had its grace…
    expect(took).toBeLessThan(1500 + 2000); // …and not much more (a margin for a loaded machine)
    drained.apis.length = 0; // closed here, not again in afterAll
  });
});
