import type { RedisClient } from '@herald/shared';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CREDENTIAL_CHARS, isTerminal } from '@herald/contract';
import { watchWithEventSource } from '../support/event-source.ts';
import { expectExactHistory } from '../support/assertions.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { canRun } from '../support/requirements.ts';
import { BEES } from '../support/texts.ts';
import { connectTestRedis, flushAll } from '../support/redis-target.ts';
import { freePort } from '../support/free-port.ts';
import { startNginx, type RunningNginx } from '../../scripts/stack/nginx.ts';

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

  it('passes a credential of MAX_CREDENTIAL_CHARS as ?token= and as a bearer in one request head (nginx’s 8k header buffers)', async () => {
    const { body } = await submit(stack.url, BEES);
    // Auth is off here, so the replica takes any token: what is checked is that nginx hands the head on.
    const token = `${'eyJhbGciOiJSUzI1NiJ9'.padEnd(MAX_CREDENTIAL_CHARS - 700, 'A')}.${'B'.repeat(350)}.${'C'.repeat(348)}`;
    expect(token).toHaveLength(MAX_CREDENTIAL_CHARS);
    const headers = { Authorization: `Bearer ${token}` };
    const snapshot = await request(`${stack.url}/v1/jobs/${body.jobId}?token=${token}`, { headers });
    expect(snapshot.status).toBe(200);
    const stream = SseClient.open(`${stack.url}/v1/events?jobs=${body.jobId}&token=${token}`, headers);
    await stream.finished(15_000);
    expect(stream.status).toBe(200);
    await expectExactHistory(redis, body.jobId, stream.events);
    // One character more reaches the replica too, which refuses it in its own JSON (not nginx's 414 page).
    const over = await request(`${stack.url}/v1/jobs/${body.jobId}?token=${token}A`);
    expect([over.status, over.body.error?.code]).toEqual([400, 'invalid_request']);
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
    // Marked, so @herald/client does not report it as an open ("live") stream.
    expect(meanwhile.headers.get('herald-unavailable')).toBe('1');
    expect(await meanwhile.text()).toBe('retry: 3000\n\n');
    // …while other routes keep an honest error, in the API's JSON rather than nginx's HTML.
    const snapshot = await request(`${stack.url}/v1/jobs/${body.jobId}`);
    expect(snapshot.status).toBe(503);
    expect(snapshot.headers.get('retry-after')).toBe('2');
    expect(snapshot.body).toEqual({ error: { code: 'unavailable', message: 'No replica could answer; try again shortly' } });
    // A producer's publish on the stream's path too: an error it can see, never the empty stream.
    const published = await request(`${stack.url}/v1/jobs/${body.jobId}/events`, { json: { status: 'processing', progress: 50 } });
    expect([published.status, published.body.error?.code]).toEqual([503, 'unavailable']);

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

// deploy/nginx/nginx.conf in front of a stand-in replica (a node:http server answering as a
// replica would): what nginx itself decides, with the replica's answer chosen by the test.
describe.skipIf(!haveNginx)('the nginx edge, in front of a stand-in replica', () => {
  const TOKEN = 'job-token-SECRET.1893456000.c2lnbmF0dXJl';
  let answer: { status: number; contentType: string; body: string; headers?: Record<string, string> };
  const seen: string[] = [];
  const replica = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.writeHead(answer.status, { 'Content-Type': answer.contentType, ...answer.headers }).end(answer.body));
  });
  let replicaPort: number;
  let nginx: RunningNginx;
  let runtimeDir: string;
  let errorLog: string;
  let base: string;
  let ops: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => replica.listen(0, '127.0.0.1', resolve));
    replicaPort = (replica.address() as AddressInfo).port;
    runtimeDir = mkdtempSync(join(tmpdir(), 'herald-nginx-edge-'));
    errorLog = join(runtimeDir, 'error.log');
    const layout = {
      listenPort: await freePort(),
      tlsPort: await freePort(),
      opsPort: await freePort(),
      tlsDir: join(runtimeDir, 'tls'),
      upstreamPorts: [replicaPort],
      runtimeDir,
    };
    answer = { status: 200, contentType: 'text/plain', body: 'ok' };
    nginx = await startNginx(layout, errorLog);
    base = `http://127.0.0.1:${layout.listenPort}`;
    ops = `http://127.0.0.1:${layout.opsPort}`;
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    if (replica.listening) await new Promise((resolve) => replica.close(resolve));
    rmSync(runtimeDir, { recursive: true, force: true });
  });

  const publish = (jobId: string) =>
    fetch(`${base}/v1/jobs/${jobId}/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer a-publish-token' },
      body: JSON.stringify({ status: 'done', result: 'all of it' }),
    });

  it("gives a producer's publish the replica's own answer, its 503 included; only a GET stream becomes a retry hint", async () => {
    const unavailable = JSON.stringify({ error: { code: 'redis_unavailable', message: 'Redis did not answer' } });
    answer = { status: 503, contentType: 'application/json', body: unavailable, headers: { 'Retry-After': '1' } };
    const published = await publish('job-1');
    expect(published.status).toBe(503);
    expect(published.headers.get('retry-after')).toBe('1');
    expect(await published.text()).toBe(unavailable);
    expect(seen.at(-1)).toBe('POST /v1/jobs/job-1/events');

    const stream = await fetch(`${base}/v1/jobs/job-1/events`);
    expect([stream.status, await stream.text()]).toEqual([200, 'retry: 3000\n\n']);

    answer = { status: 201, contentType: 'application/json', body: '{"id":"1-0"}' };
    const accepted = await publish('job-1');
    expect([accepted.status, await accepted.text()]).toEqual([201, '{"id":"1-0"}']);
  });

  it('refuses /metrics, /readyz and /admin on the public listener, in any spelling; serves them on the operations one', async () => {
    answer = { status: 200, contentType: 'text/plain', body: 'replica' };
    seen.length = 0;
    for (const path of ['/metrics', '/METRICS', '/readyz', '/readyz/', '/admin', '/Admin/api/queues', '//metrics', '/%6Detrics']) {
      const refused = await fetch(`${base}${path}`, { headers: { Authorization: 'Bearer an-admin-key' } });
      expect(refused.status, path).toBe(404);
      expect(await refused.json(), path).toEqual({ error: { code: 'not_found', message: 'No such route' } });
    }
    expect(seen).toEqual([]);
    for (const path of ['/metrics', '/readyz', '/admin/api/queues']) {
      const served = await fetch(`${ops}${path}`);
      expect([served.status, await served.text()], path).toEqual([200, 'replica']);
    }
    expect(seen).toEqual(['GET /metrics', 'GET /readyz', 'GET /admin/api/queues']);
    // What stays public: liveness and the rest of the API.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/metricsx`)).status).toBe(200);
  });

  it('tells a producer no replica answered (JSON 503, Retry-After) rather than an empty stream; a watcher still gets the retry hint', async () => {
    await new Promise((resolve) => replica.close(resolve));
    try {
      const published = await publish('job-2');
      expect(published.status).toBe(503);
      expect(published.headers.get('retry-after')).toBe('2');
      expect(await published.json()).toEqual({ error: { code: 'unavailable', message: 'No replica could answer; try again shortly' } });
      const stream = await fetch(`${base}/v1/jobs/job-2/events`);
      expect([stream.status, await stream.text()]).toEqual([200, 'retry: 3000\n\n']);

      // L2: every route that takes ?token= fails here; none of their error lines may quote it.
      for (const path of [
        `/v1/jobs/job-2?token=${TOKEN}`,
        `/v1/jobs/job-2/?token=${TOKEN}`,
        `/v1/batches/batch-2?token=${TOKEN}`,
        `/jobs/job-2?token=${TOKEN}`,
        `/batches/batch-2?token=${TOKEN}`,
        `/v1/jobs/job-2/events?token=${TOKEN}`,
        `/v1/events?jobs=job-2&token=${TOKEN}`,
      ]) {
        expect((await fetch(`${base}${path}`)).status, path).toBeLessThan(600);
      }
      // A request without a token is logged as before: the log is on, and quiet only where tokens go.
      expect((await fetch(`${base}/healthz?probe=LOGGED`)).status).toBe(503);
      await expect.poll(() => readFileSync(errorLog, 'utf8'), { timeout: 5_000 }).toContain('probe=LOGGED');
      expect(readFileSync(errorLog, 'utf8')).not.toContain('SECRET');
    } finally {
      await new Promise<void>((resolve) => replica.listen(replicaPort, '127.0.0.1', resolve));
    }
  });
});
