import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EventSource } from 'eventsource';
import { expectExactHistory } from '../support/assertions.ts';
import { submit } from '../support/http.ts';
import type { ReceivedEvent } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem({ redisUrl: inject('redisUrl'), env: { STAGE_DELAY_MS: '300', SSE_RETRY_MS: '50' } });
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
