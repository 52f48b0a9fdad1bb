import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WatchTokens } from '../../apps/api/src/auth/watch-tokens.ts';
import { createClient, type HeraldClient } from '../../packages/client/src/index.ts';
import { EventReader } from '@herald/shared';
import { WHOLE_HISTORY, expectError } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// POST /v1/jobs/{id}/watch-tokens and POST /v1/batches/{id}/watch-tokens: a key holder's fresh
// watch token without the snapshot (what a backend's getToken calls), and @herald/client's
// watchToken, batchWatchToken and getToken against Herald itself.
const KEY = 'key-alpha-0123456789';
const OTHER_KEY = 'key-bravo-0123456789';
const ADMIN_KEY = 'key-admin-0123456789';
const SECRET = 'a-watch-token-secret-of-forty-characters!';
const TTL_SECONDS = 600;
const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
/** A stream request's status; the stream (of a job that has not ended) is then let go. */
async function streamStatus(url: string, headers: Record<string, string>): Promise<number> {
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers } });
  await response.body?.cancel();
  return response.status;
}

describe('with API keys: two replicas, one secret', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({
      workers: 0,
      env: {
        API_KEYS: `${KEY}, ${OTHER_KEY}`,
        ADMIN_API_KEYS: ADMIN_KEY,
        WATCH_TOKEN_SECRET: SECRET,
        WATCH_TOKEN_TTL_SECONDS: String(TTL_SECONDS),
      },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  /** An external job: it lasts until its producer ends it, and needs no worker. */
  const external = async (key: string) =>
    (await request(`${a}/v1/jobs`, { json: { kind: 'external' }, headers: bearer(key) })).body as {
      jobId: string;
      watchToken: string;
      publishToken: string;
    };
  const mint = (base: string, path: string, headers: Record<string, string> = {}) =>
    request(`${base}${path}/watch-tokens`, { method: 'POST', headers });

  it('gives the owning key (or an admin key) a fresh token and its expiry, from either replica, that watches the job', async () => {
    const job = await external(KEY);
    for (const [base, key] of [
      [b, KEY],
      [a, ADMIN_KEY],
    ] as const) {
      const before = Date.now();
      const minted = await mint(base, `/v1/jobs/${job.jobId}`, bearer(key));
      expect(minted.status).toBe(201);
      expect(Object.keys(minted.body).sort()).toEqual(['expiresAt', 'watchToken']);
      const { watchToken, expiresAt } = minted.body as { watchToken: string; expiresAt: number };
      expect(minted.headers.get('cache-control')).toBe('no-store');
      // Epoch milliseconds, WATCH_TOKEN_TTL_SECONDS ahead (tokens count whole seconds).
      expect(expiresAt).toBeGreaterThan(before + (TTL_SECONDS - 1) * 1000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + TTL_SECONDS * 1000);
      // It watches: the snapshot and the stream, from the other replica, as a query or a bearer.
      const other = base === a ? b : a;
      expect((await request(`${other}/v1/jobs/${job.jobId}?token=${watchToken}`)).status).toBe(200);
      expect(await streamStatus(`${other}/v1/jobs/${job.jobId}/events`, bearer(watchToken))).toBe(200);
    }
  });

  it('answers 404 for an unknown job and for another key’s, 401 without a key, and refuses a watch token (it cannot mint another)', async () => {
    const job = await external(KEY);
    expectError(await mint(b, '/v1/jobs/no-such-job-0123456789a', bearer(KEY)), 404, 'not_found');
    expectError(await mint(b, `/v1/jobs/${job.jobId}`, bearer(OTHER_KEY)), 404, 'not_found');
    const none = await mint(b, `/v1/jobs/${job.jobId}`);
    expectError(none, 401, 'unauthorized');
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    // A watch token is no API key: 401, as for DELETE; so is a publish token.
    expectError(await mint(b, `/v1/jobs/${job.jobId}`, bearer(job.watchToken)), 401, 'unauthorized');
    expectError(await mint(b, `/v1/jobs/${job.jobId}`, bearer(job.publishToken)), 401, 'unauthorized');
    // Who before what: an unknown job without a key is a 401, not a 404.
    expectError(await mint(b, '/v1/jobs/no-such-job-0123456789a'), 401, 'unauthorized');
  });

  it('mints a batch’s token, which watches the batch and each of its jobs; another key’s batch is a 404', async () => {
    const submitted = await request(`${a}/v1/batches`, { json: { items: [{ text: 'Bees make honey.' }] }, headers: bearer(KEY) });
    const { batchId, jobIds } = submitted.body as { batchId: string; jobIds: string[] };
    const minted = await mint(b, `/v1/batches/${batchId}`, bearer(KEY));
    expect(minted.status).toBe(201);
    const { watchToken } = minted.body as { watchToken: string };
    expect((await request(`${a}/v1/batches/${batchId}?token=${watchToken}`)).status).toBe(200);
    expect((await request(`${a}/v1/jobs/${jobIds[0]}?token=${watchToken}`)).status).toBe(200);
    expectError(await mint(b, `/v1/batches/${batchId}`, bearer(OTHER_KEY)), 404, 'not_found');
    expectError(await mint(b, '/v1/batches/no-such-batch-0123456789', bearer(KEY)), 404, 'not_found');
    expectError(await mint(b, `/v1/batches/${batchId}`, bearer(watchToken)), 401, 'unauthorized');
  });

  it('@herald/client: watchToken and batchWatchToken return {watchToken, expiresAt}', async () => {
    const client: HeraldClient = createClient({ baseUrl: b, apiKey: KEY });
    const job = await external(KEY);
    const issued = await client.watchToken(job.jobId);
    expect(issued).toEqual({ watchToken: expect.any(String), expiresAt: expect.any(Number) });
    expect((await createClient({ baseUrl: a }).job(job.jobId, { token: issued.watchToken })).jobId).toBe(job.jobId);
    await expect(createClient({ baseUrl: b, apiKey: OTHER_KEY }).watchToken(job.jobId)).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
    });
    const { batchId } = await client.submitBatch({ items: [{ text: 'Bees make honey.' }] });
    const batch = await client.batchWatchToken(batchId);
    expect((await createClient({ baseUrl: a }).batch(batchId, { token: batch.watchToken })).batchId).toBe(batchId);
  });

  it('@herald/client: a watch whose getToken first hands out an expired token renews it and sees the job’s whole history', async () => {
    const keyed = createClient({ baseUrl: b, apiKey: KEY });
    const job = await external(KEY);
    const publish = (event: unknown) => request(`${a}/v1/jobs/${job.jobId}/events`, { json: event, headers: bearer(job.publishToken) });
    await publish({ status: 'processing', progress: 30, message: 'Working' });
    await publish({ status: 'done', result: 'ok' });
    const handedOut: string[] = [];
    const getToken = async (): Promise<string> => {
      const token =
        handedOut.length === 0
          ? new WatchTokens(SECRET, 10).mint(job.jobId, Date.now() - 60_000)
          : (await keyed.watchToken(job.jobId)).watchToken;
      handedOut.push(token);
      return token;
    };
    const answers: string[] = [];
    const watcher = createClient({
      baseUrl: a,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (response.status !== 200)
          answers.push(`${response.status} ${((await response.clone().json()) as { error: { code: string } }).error.code}`);
        return response;
      },
    });
    const seen = [];
    for await (const item of watcher.watch(job.jobId, { getToken, initialRetryMs: 10 })) seen.push(item);
    expect(handedOut).toHaveLength(2);
    expect(answers).toEqual(['401 token_expired']);
    expect(seen.at(-1)!.event.status).toBe('done');
    const stored = await new EventReader(system.redis).eventsAfter(job.jobId, null, WHOLE_HISTORY);
    expect(seen.map((item) => item.id)).toEqual(stored.map((event) => event.id));
    expect(seen.map((item) => item.event)).toEqual(stored.map((event) => JSON.parse(event.data)));
  });
});

describe('with auth off', () => {
  it('mints when WATCH_TOKEN_SECRET is set (as POST /v1/jobs hands out a token), else answers 404', async () => {
    const withSecret = await startSystem({ replicas: 1, workers: 0, env: { WATCH_TOKEN_SECRET: SECRET } });
    try {
      const url = withSecret.apis[0]!.url;
      const { jobId } = (await request(`${url}/v1/jobs`, { json: { kind: 'external' } })).body as { jobId: string };
      const minted = await request(`${url}/v1/jobs/${jobId}/watch-tokens`, { method: 'POST' });
      expect(minted.status).toBe(201);
      expect(minted.body.watchToken).toEqual(expect.any(String));
      expectError(await request(`${url}/v1/jobs/no-such-job-0123456789a/watch-tokens`, { method: 'POST' }), 404, 'not_found');
    } finally {
      await withSecret.close();
    }
    const open = await startSystem({ replicas: 1, workers: 0 });
    try {
      const url = open.apis[0]!.url;
      const { jobId } = (await request(`${url}/v1/jobs`, { json: { kind: 'external' } })).body as { jobId: string };
      const off = await request(`${url}/v1/jobs/${jobId}/watch-tokens`, { method: 'POST' });
      expectError(off, 404, 'not_found');
      expect(off.body.error.message).toMatch(/WATCH_TOKEN_SECRET/);
      // Nothing to renew, and nothing needed: the stream is open.
      const watched = SseClient.open(`${url}/v1/jobs/${jobId}/events`);
      await watched.waitFor((client) => client.events.length === 1);
      expect(watched.status).toBe(200);
      watched.close();
    } finally {
      await open.close();
    }
  });

  it('counts a mint as a snapshot read against READ_RATE_PER_IP', async () => {
    const limited = await startSystem({
      replicas: 1,
      workers: 0,
      env: { API_KEYS: KEY, WATCH_TOKEN_SECRET: SECRET, READ_RATE_PER_IP: '2' },
    });
    try {
      const url = limited.apis[0]!.url;
      const { jobId } = (await request(`${url}/v1/jobs`, { json: { kind: 'external' }, headers: bearer(KEY) })).body as { jobId: string };
      const path = `${url}/v1/jobs/${jobId}/watch-tokens`;
      expect((await request(path, { method: 'POST', headers: bearer(KEY) })).status).toBe(201);
      expect((await request(`${url}/v1/jobs/${jobId}`, { headers: bearer(KEY) })).status).toBe(200);
      const over = await request(path, { method: 'POST', headers: bearer(KEY) });
      expectError(over, 429, 'rate_limited');
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
