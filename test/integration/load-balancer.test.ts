import type { RedisClient } from '@herald/shared';
import { spawnSync } from 'node:child_process';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '@herald/contract';
import { watchWithEventSource } from '../support/event-source.ts';
import { expectExactHistory } from '../support/assertions.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { canRun } from '../support/requirements.ts';
import { BEES } from '../support/texts.ts';
import { connectTestRedis, flushAll } from '../support/redis-target.ts';

// deploy/nginx/nginx.conf in front of real replica processes (npm run stack's topology): what
// the load balancer must do for SSE, checked through it.
const haveNginx = canRun('load-balancer tests', [
  spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status !== 0 && 'no nginx on the PATH (apt-get install nginx-light)',
]);

async function watchers(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  return Number(/^herald_sse_watchers (\d+)/m.exec(text)?.[1] ?? 0);
}

describe.skipIf(!haveNginx)('the nginx load balancer', () => {
  let stack: TestStack;
  let redis: RedisClient;

  beforeAll(async () => {
    redis = connectTestRedis();
    await flushAll(redis);
    // Stages 800 ms apart: a job stays live long enough to be watched from three replicas.
    stack = await startTestStack({ apiReplicas: 3, workers: 1, env: { STAGE_DELAY_MS: '800' } });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    redis?.disconnect();
  });

  it('spreads watchers round robin, no stickiness, and streams each event as it happens', async () => {
    const { body } = await submit(stack.url, BEES);
    // The same client, three times: round robin puts each stream on another replica.
    const clients = [0, 1, 2].map(() => SseClient.open(`${stack.url}/v1/jobs/${body.jobId}/events`, { 'Accept-Encoding': 'gzip' }));
    await Promise.all(clients.map((client) => client.waitFor((c) => c.events.length > 0)));
    expect(await Promise.all(stack.replicas.map((replica) => watchers(replica.url)))).toEqual([1, 1, 1]);

    // Unbuffered and uncompressed: the first events are here while the job is still running.
    const first = clients[0]!;
    expect(first.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(first.headers.get('content-encoding')).toBeNull();
    expect(isTerminal(first.events.at(-1)!.json.status)).toBe(false);

    await Promise.all(clients.map((client) => client.finished(15_000)));
    for (const client of clients) await expectExactHistory(redis, body.jobId, client.events);
  });

  it('keeps a plain EventSource coming back while no replica can serve it, then resumes it exactly', async () => {
    const { body } = await submit(stack.url, BEES);
    const { source, events, finished, errors } = watchWithEventSource(`${stack.url}/v1/jobs/${body.jobId}/events`);
    await expect.poll(() => events.length, { timeout: 10_000 }).toBeGreaterThan(1);

    await Promise.all(stack.replicas.map((replica) => replica.kill()));
    // Every replica is down: the stream route answers an empty stream with a retry hint rather
    // than a 502, which would end a browser's EventSource for good.
    const meanwhile = await fetch(`${stack.url}/v1/jobs/${body.jobId}/events`);
    expect(meanwhile.status).toBe(200);
    expect(meanwhile.headers.get('content-type')).toContain('text/event-stream');
    expect(await meanwhile.text()).toBe('retry: 3000\n\n');
    // …while other routes keep an honest error, in the API's JSON rather than nginx's HTML.
    const snapshot = await request(`${stack.url}/v1/jobs/${body.jobId}`);
    expect(snapshot.status).toBe(503);
    expect(snapshot.headers.get('retry-after')).toBe('2');
    expect(snapshot.body).toEqual({ error: { code: 'unavailable', message: 'No replica could answer; try again shortly' } });

    await expect.poll(errors, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(source.readyState).not.toBe(EventSource.CLOSED);
    await Promise.all(stack.replicas.map((replica) => replica.start()));

    await finished;
    await expectExactHistory(redis, body.jobId, events);
  }, 60_000);
});

describe.skipIf(!haveNginx)('the nginx load balancer and per-IP limits', () => {
  let stack: TestStack;

  beforeAll(async () => {
    // A fresh budget: the submissions above counted against this client too.
    const redis = connectTestRedis();
    await flushAll(redis);
    redis.disconnect();
    stack = await startTestStack({ apiReplicas: 2, workers: 0, env: { SUBMIT_RATE_PER_IP: '3' } });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('counts a client by the address nginx saw, whatever X-Forwarded-For the client sends', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      // A different claimed address each time (a header, no traffic): believed, it would give
      // the client a fresh budget per request.
      const response = await submit(stack.url, BEES, undefined, { 'X-Forwarded-For': `198.51.100.${i + 1}` });
      statuses.push(response.status);
      if (response.status === 429) expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Round robin spread those over both replicas; the limit is one, shared through Redis.
    expect(statuses).toEqual([202, 202, 202, 429]);
  });
});
