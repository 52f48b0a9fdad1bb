import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@herald/api';
import { ConfigError, createLogger, loadConfig, redactUrl, type RedisClient } from '@herald/shared';
import { startWorker, type RunningWorker } from '@herald/worker-process';
import { runEntry } from '../support/child.ts';
import { freePort } from '../support/free-port.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { connectTestRedis, flushAll, redisEnv } from '../support/redis-target.ts';

// Log hygiene: JSON lines, a request id on request lines, the job id on job lines — and never
// the submitted text, the summary, the Redis password, the API key or the watch token.

const MARKER = 'Quokkazebrine';
const TEXT = [
  `The ${MARKER} colony lives on a small island with steep cliffs and warm winds.`,
  `Every ${MARKER} gathers seeds at dawn and stores them in long tunnels under the grass.`,
  `Visitors rarely see a ${MARKER} because the animals hide from boats and loud voices.`,
  `Scientists count each ${MARKER} burrow twice a year to follow how the colony grows.`,
].join(' ');
const ACL_USER = 'herald-log-test';
const PASSWORD = 'Pw-s3cret-LOGTEST-91';
const API_KEY = 'Key-s3cret-LOGTEST-0042';
const TOKEN_SECRET = 'Secret-for-watch-tokens-LOGTEST-0123456789';
const auth = { Authorization: `Bearer ${API_KEY}` };

interface LogLine {
  level: string;
  time: string;
  component: string;
  msg: string;
  reqId?: string;
  jobId?: string;
  attempt?: number;
  [field: string]: unknown;
}

let admin: RedisClient;
let api: RunningApi;
let worker: RunningWorker;
const raw: string[] = [];
const lines = (): LogLine[] => raw.map((line) => JSON.parse(line) as LogLine);

beforeAll(async () => {
  const shared = new URL(redisEnv().REDIS_URL!);
  admin = connectTestRedis();
  await flushAll(admin);
  await admin.call('ACL', 'SETUSER', ACL_USER, 'reset', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
  const config = loadConfig({
    REDIS_URL: `redis://${ACL_USER}:${PASSWORD}@${shared.host}`,
    PORT: '0',
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    STAGE_DELAY_MS: '0',
    LOG_LEVEL: 'trace',
    API_KEYS: API_KEY,
    WATCH_TOKEN_SECRET: TOKEN_SECRET,
  });
  const destination = {
    write(chunk: string) {
      raw.push(...chunk.split('\n').filter((line) => line !== ''));
    },
  };
  worker = await startWorker({ config, logger: createLogger('worker', config.LOG_LEVEL, destination) });
  api = await startApi({ config, logger: createLogger('api', config.LOG_LEVEL, destination) });
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await admin.call('ACL', 'DELUSER', ACL_USER);
  admin.disconnect();
});

describe('logs of a job run through API and worker', () => {
  let jobId: string;
  let summary: string;
  let watchRequestId: string;
  let watchToken: string;

  beforeAll(async () => {
    const submitted = await submit(api.url, TEXT, { maxSentences: 2 }, { ...auth, 'X-Request-Id': 'hygiene-req.1' });
    expect(submitted.status).toBe(202);
    expect(submitted.headers.get('x-request-id')).toBe('hygiene-req.1');
    jobId = submitted.body.jobId;
    watchToken = submitted.body.watchToken;
    // An id that is not sane is replaced, not echoed.
    const watcher = await SseClient.open(`${api.url}${submitted.body.links.events}`, { 'X-Request-Id': 'not sane: {"x":1}' }).finished(
      15_000,
    );
    watchRequestId = watcher.headers.get('x-request-id') ?? '';
    const done = watcher.events.at(-1)!.json;
    expect(done.status).toBe('done');
    summary = String(done.result);
    expect(summary).toContain(MARKER);
    // Requests the API turns away, with the text in their bodies.
    expect((await request(`${api.url}/v1/jobs`, { json: { text: TEXT, extra: true }, headers: auth })).status).toBe(400);
    expect(
      (await request(`${api.url}/v1/jobs`, { body: `{"text": "${TEXT}"`, headers: { ...auth, 'content-type': 'application/json' } }))
        .status,
    ).toBe(400);
    expect((await request(`${api.url}/v1/jobs`, { body: TEXT, headers: { ...auth, 'content-type': 'text/plain' } })).status).toBe(415);
    // Turned away for their credentials: a wrong key, a forged token.
    expect((await submit(api.url, TEXT, undefined, { Authorization: `Bearer ${API_KEY}-wrong` })).status).toBe(401);
    expect((await request(`${api.url}/v1/jobs/${jobId}/events?token=${watchToken}x`)).status).toBe(401);
    // A snapshot (which carries the result) and the metrics.
    expect((await request(`${api.url}/v1/jobs/${jobId}?token=${watchToken}`)).body.result).toBe(summary);
    expect((await request(`${api.url}/metrics`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the last 'request completed' lines
  });

  it('are JSON lines with level, time, component and msg', () => {
    expect(raw.length).toBeGreaterThan(5);
    for (const line of lines()) {
      expect(typeof line.level).toBe('string');
      expect(Number.isNaN(Date.parse(line.time))).toBe(false);
      expect(['api', 'worker']).toContain(line.component);
      expect(typeof line.msg).toBe('string');
    }
  });

  it('never hold the text, the summary, the Redis password, the API key or a watch token', () => {
    expect(watchToken).toMatch(/\./);
    const signature = watchToken.split('.').at(-1)!;
    for (const line of raw) {
      expect(line).not.toContain(MARKER);
      expect(line).not.toContain(summary);
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toContain(API_KEY);
      expect(line).not.toContain(TOKEN_SECRET);
      expect(line).not.toContain(signature);
    }
    // The key is known in logs by its digest only.
    expect(lines().find((line) => line.msg === 'job submitted')?.keyId).toMatch(/^[0-9a-f]{12}$/);
  });

  it('give every request line its request id, echoed in X-Request-Id', () => {
    expect(watchRequestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const completed = lines().filter((line) => line.msg === 'request completed');
    expect(completed.length).toBeGreaterThanOrEqual(8);
    for (const line of completed) {
      expect(line.component).toBe('api');
      expect(typeof line.reqId).toBe('string');
      expect(line.path).not.toContain('?');
    }
    expect(completed.find((line) => line.reqId === 'hygiene-req.1')).toMatchObject({ method: 'POST', path: '/v1/jobs', status: 202 });
    expect(completed.find((line) => line.reqId === watchRequestId)).toMatchObject({
      method: 'GET',
      path: `/v1/jobs/${jobId}/events`,
      status: 200,
    });
  });

  it('give every line about a job its job id (and the request id in the API, the attempt in the worker)', () => {
    const all = lines();
    const aboutJobs = all.filter((line) => /^(job|watcher)\b/.test(line.msg));
    expect(aboutJobs.length).toBeGreaterThanOrEqual(5);
    for (const line of aboutJobs) {
      expect(line.jobId, line.msg).toBe(jobId);
      if (line.component === 'api') expect(typeof line.reqId, line.msg).toBe('string');
      else expect(line.attempt, line.msg).toBe(1);
    }
    expect(all.find((line) => line.msg === 'job submitted')).toMatchObject({
      component: 'api',
      reqId: 'hygiene-req.1',
      jobId,
      chars: TEXT.length,
    });
    expect(all.find((line) => line.msg === 'watcher connected')).toMatchObject({ reqId: watchRequestId, jobId });
    expect(all.find((line) => line.msg === 'watcher ended')).toMatchObject({ reqId: watchRequestId, jobId, how: 'completed' });
    expect(all.find((line) => line.msg === 'job started')).toMatchObject({ component: 'worker', jobId, attempt: 1 });
    expect(all.find((line) => line.msg === 'job finished')).toMatchObject({ component: 'worker', jobId, attempt: 1, status: 'done' });
  });
});

describe('the Redis password', () => {
  it('is redacted from URLs and from configuration errors', () => {
    expect(redactUrl(`redis://user:${PASSWORD}@host:6379/0`)).toBe('redis://***@host:6379/0');
    expect(redactUrl(`rediss://:${PASSWORD}@host`)).toBe('rediss://***@host');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    let error: unknown;
    try {
      loadConfig({ REDIS_URL: `http://user:${PASSWORD}@host:6379` });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('REDIS_URL=');
    expect((error as Error).message).not.toContain(PASSWORD);
  });

  it("is not in npm start's line about a Redis that does not answer", async () => {
    const port = await freePort();
    const child = runEntry('apps/standalone/src/main.ts', {
      // Loopback, where nothing answers; not one of the names npm start starts a private Redis
      // for (127.0.0.1, localhost, ::1), so it only waits and says so.
      REDIS_URL: `redis://${ACL_USER}:${PASSWORD}@127.0.0.2:${port}`,
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    });
    try {
      const deadline = Date.now() + 10_000;
      while (!child.output().includes('nothing answers at') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(child.output()).toContain(`redis://***@127.0.0.2:${port}`);
      expect(child.output()).not.toContain(PASSWORD);
    } finally {
      child.process.kill('SIGKILL');
      await child.exited();
    }
  });
});
