import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CREDENTIAL_CHARS } from '@herald/contract';
import { ConfigError, createLogger, loadConfig } from '@herald/shared';
import { startApi } from '@herald/api';
import { WatchTokens } from '../../apps/api/src/auth/watch-tokens.ts';
import { expectError, expectExactHistory } from '../support/assertions.ts';
import { request, submit } from '../support/http.ts';
import { watchWithEventSource, type WatchingSource } from '../support/event-source.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { commandCalls, redisEnv } from '../support/redis-target.ts';

const KEY = 'key-alpha-0123456789';
const OTHER_KEY = 'key-bravo-0123456789';
const SECRET = 'a-watch-token-secret-of-forty-characters!';
const AUTH_ON = { API_KEYS: `${KEY}, ${OTHER_KEY}`, WATCH_TOKEN_SECRET: SECRET };
const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });

describe('with API keys: two replicas, one secret', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({ env: AUTH_ON });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  it('submits only with a valid key, and answers with a watch token bound to the job', async () => {
    expectError(await submit(a, BEES), 401, 'unauthorized');
    const wrong = await submit(a, BEES, undefined, bearer('key-charlie-0123456789'));
    expectError(wrong, 401, 'unauthorized');
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    expectError(await submit(a, BEES, undefined, { Authorization: `Basic ${KEY}` }), 401, 'unauthorized');
    // Who before what: an invalid body from an unknown caller is still a 401.
    expectError(await request(`${a}/v1/jobs`, { json: { nope: true } }), 401, 'unauthorized');

    for (const key of [KEY, OTHER_KEY]) {
      const accepted = await submit(a, BEES, undefined, bearer(key));
      expect(accepted.status).toBe(202);
      const { jobId, watchToken } = accepted.body;
      expect(watchToken).toMatch(new RegExp(`^${jobId}\\.`));
      expect(accepted.body.links.events).toBe(`/v1/jobs/${jobId}/events?token=${watchToken}`);
    }
  });

  it('reads a snapshot with a key or the job’s own token, from either replica', async () => {
    const { body } = await submit(a, BEES, undefined, bearer(KEY));
    const other = await submit(a, BEES, undefined, bearer(KEY));
    expectError(await request(`${b}/v1/jobs/${body.jobId}`), 401, 'unauthorized');
    const withKey = await request(`${b}/v1/jobs/${body.jobId}`, { headers: bearer(KEY) });
    expect(withKey.status).toBe(200);
    // A key holder gets a fresh watch token for the job: a link to hand out. A token holder does not.
    expect(withKey.body.watchToken).toMatch(new RegExp(`^${body.jobId}\\.`));
    expect(
      (await request(`${b}/v1/jobs/${body.jobId}/events?token=${withKey.body.watchToken}`, { headers: { Accept: 'text/event-stream' } }))
        .status,
    ).toBe(200);
    expect((await request(`${b}/v1/jobs/${body.jobId}?token=${body.watchToken}`)).body.watchToken).toBeUndefined();
    expect((await request(`${b}/v1/jobs/${body.jobId}?token=${body.watchToken}`)).status).toBe(200);
    expect((await request(`${b}/v1/jobs/${body.jobId}`, { headers: bearer(body.watchToken) })).status).toBe(200);
    expectError(await request(`${b}/v1/jobs/${body.jobId}?token=${other.body.watchToken}`), 403, 'forbidden');
    expectError(await request(`${b}/v1/jobs/${body.jobId}?token=a&token=b`), 400, 'invalid_request');
    // Without a credential nobody learns whether a job exists.
    expectError(await request(`${b}/v1/jobs/no-such-job-0123456789a`), 401, 'unauthorized');
    expectError(await request(`${b}/v1/jobs/no-such-job-0123456789a`, { headers: bearer(KEY) }), 404, 'not_found');
  });

  it('cancels only with a key: a watch token lets you watch, not cancel', async () => {
    // An external job: it runs until someone ends it, so the cancel always finds it running.
    const { body } = await request(`${a}/v1/jobs`, { json: { kind: 'external' }, headers: bearer(KEY) });
    const url = `${b}/v1/jobs/${body.jobId}`;
    expectError(await request(url, { method: 'DELETE' }), 401, 'unauthorized');
    expectError(await request(url, { method: 'DELETE', headers: bearer(body.watchToken) }), 401, 'unauthorized');
    // Another key does not learn the job exists (docs/security.md, "Who owns a job").
    expectError(await request(url, { method: 'DELETE', headers: bearer(OTHER_KEY) }), 404, 'not_found');
    expect((await request(url, { method: 'DELETE', headers: bearer(KEY) })).status).toBe(202);
  });

  it('streams with the token from the other replica, as a query (EventSource) or a bearer, or with the key that made the job', async () => {
    const { body } = await submit(a, BEES, undefined, bearer(KEY));
    const url = `${b}/v1/jobs/${body.jobId}/events`;
    for (const [target, headers] of [
      [`${url}?token=${body.watchToken}`, {}],
      [url, bearer(body.watchToken)],
      [url, bearer(KEY)],
    ] as const) {
      const client = SseClient.open(target, headers);
      await client.finished();
      expect(client.status).toBe(200);
      await expectExactHistory(system.redis, body.jobId, client.events);
    }
  });

  it('refuses a missing, forged, expired or another job’s token', async () => {
    const { body } = await submit(a, BEES, undefined, bearer(KEY));
    const other = await submit(a, BEES, undefined, bearer(KEY));
    const url = `${b}/v1/jobs/${body.jobId}/events`;
    const [jobPart, expiry, signature] = (body.watchToken as string).split('.') as [string, string, string];
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    const later = (parseInt(expiry, 36) + 3600).toString(36);
    const expired = new WatchTokens(SECRET, 10).mint(body.jobId, Date.now() - 60_000);
    const cases: [string, number, string][] = [
      ['', 401, 'unauthorized'],
      [`?token=${jobPart}.${expiry}.${flipped}`, 401, 'invalid_token'], // signature tampered
      [`?token=${jobPart}.${later}.${signature}`, 401, 'invalid_token'], // expiry pushed out
      [`?token=${other.body.jobId}.${expiry}.${signature}`, 401, 'invalid_token'], // job swapped
      [`?token=${new WatchTokens('another-secret-of-forty-characters-long!', 60).mint(body.jobId)}`, 401, 'invalid_token'],
      [`?token=${expired}`, 401, 'token_expired'],
      [`?token=${other.body.watchToken}`, 403, 'forbidden'],
      [`?token=${'x'.repeat(MAX_CREDENTIAL_CHARS + 1)}`, 400, 'invalid_request'],
      [`?token=${'x'.repeat(600)}`, 401, 'invalid_token'], // longer than Herald's own tokens, within the cap
    ];
    for (const [query, status, code] of cases) {
      const response = await request(`${url}${query}`, { headers: { Accept: 'text/event-stream' } });
      expect({ query, status: response.status }).toEqual({ query, status });
      expectError(response, status, code);
    }
    expect((await request(`${url}?token=${expired}`)).body.error.message).toMatch(/expired/);
    // An unknown job without a credential: 401, not 404.
    expectError(await request(`${b}/v1/jobs/unknown-job-0123456789ab/events`), 401, 'unauthorized');
  });

  it('sends security headers that leave SSE intact, and no CORS without an allowlist', async () => {
    const { body } = await submit(a, BEES, undefined, bearer(KEY));
    const json = await fetch(`${a}/v1/jobs/${body.jobId}`, { headers: { ...bearer(KEY), Origin: 'https://evil.example' } });
    expect(json.headers.get('x-content-type-options')).toBe('nosniff');
    expect(json.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(json.headers.get('access-control-allow-origin')).toBeNull();
    const stream = SseClient.open(`${a}${body.links.events}`);
    await stream.finished();
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(stream.headers.get('x-accel-buffering')).toBe('no');
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('jobs belong to the key that made them', () => {
  const ADMIN_KEY = 'key-admin-0123456789';
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({ env: { ...AUTH_ON, ADMIN_API_KEYS: ADMIN_KEY } });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  const external = async (key: string) => (await request(`${a}/v1/jobs`, { json: { kind: 'external' }, headers: bearer(key) })).body;
  const publish = (jobId: string, credential: string, event: unknown = { status: 'processing', progress: 10 }) =>
    request(`${b}/v1/jobs/${jobId}/events`, { json: event, headers: bearer(credential) });

  it('hides a job from another key: its snapshot, stream, publish and cancel are 404, as for no job at all', async () => {
    const job = await external(KEY);
    const summary = (await submit(a, BEES, undefined, bearer(KEY))).body;
    for (const jobId of [job.jobId, summary.jobId, 'no-such-job-0123456789a']) {
      const url = `${b}/v1/jobs/${jobId}`;
      expectError(await request(url, { headers: bearer(OTHER_KEY) }), 404, 'not_found');
      expectError(await request(`${url}/events`, { headers: { ...bearer(OTHER_KEY), Accept: 'text/event-stream' } }), 404, 'not_found');
      expectError(await publish(jobId, OTHER_KEY), 404, 'not_found');
      expectError(await request(url, { method: 'DELETE', headers: bearer(OTHER_KEY) }), 404, 'not_found');
    }
    // The owner was not disturbed: nothing was published, nothing cancelled.
    expect((await request(`${a}/v1/jobs/${job.jobId}`, { headers: bearer(KEY) })).body).toMatchObject({ status: 'queued' });
  });

  it('extends to batches: a batch and its jobs are its key’s; its token watches the batch, each job, and several on one connection', async () => {
    const submitted = await request(`${a}/v1/batches`, { json: { items: [{ text: BEES }, { text: BEES }] }, headers: bearer(KEY) });
    expect(submitted.status).toBe(202);
    const { batchId, jobIds, watchToken } = submitted.body as { batchId: string; jobIds: string[]; watchToken: string };
    expect(submitted.body.links.events).toBe(`/v1/batches/${batchId}/events?token=${watchToken}`);
    // Another key learns nothing of it.
    for (const url of [
      `${b}/v1/batches/${batchId}`,
      `${b}/v1/batches/${batchId}/events`,
      `${b}/v1/jobs/${jobIds[0]}`,
      `${b}/v1/events?jobs=${jobIds.join(',')}`,
    ]) {
      expectError(await request(url, { headers: bearer(OTHER_KEY) }), 404, 'not_found');
    }
    expectError(await request(`${b}/v1/batches/${batchId}`, { method: 'DELETE', headers: bearer(OTHER_KEY) }), 404, 'not_found');
    // Its token covers the batch and each of its jobs, one at a time or together.
    expect((await request(`${b}/v1/batches/${batchId}?token=${watchToken}`)).status).toBe(200);
    const batchStream = await SseClient.open(`${b}/v1/batches/${batchId}/events?token=${watchToken}`).finished(20_000);
    expect(batchStream.status).toBe(200);
    const together = await SseClient.open(`${a}/v1/events?jobs=${jobIds.join(',')}&token=${watchToken}`).finished(20_000);
    expect(together.events.filter((event) => event.json.status === 'done')).toHaveLength(2);
    // A job's own token covers that job only; together, two tokens cover two jobs.
    const other = (await submit(a, BEES, undefined, bearer(KEY))).body as { jobId: string; watchToken: string };
    expectError(await request(`${a}/v1/events?jobs=${other.jobId},${jobIds[0]}&token=${other.watchToken}`), 403, 'forbidden');
    const both = await SseClient.open(
      `${a}/v1/events?jobs=${other.jobId},${jobIds[0]}&token=${other.watchToken}&token=${watchToken}`,
    ).finished(20_000);
    expect(both.status).toBe(200);
    expectError(await request(`${a}/v1/batches/${batchId}?token=${other.watchToken}`), 403, 'forbidden');
    expectError(await request(`${a}/v1/events?jobs=${jobIds[0]}`), 401, 'unauthorized');
    // The owning key streams them too, without a token.
    const byKey = await SseClient.open(`${a}/v1/events?jobs=${jobIds.join(',')}`, bearer(KEY)).finished(20_000);
    expect(byKey.events.map((event) => event.data)).toEqual(together.events.map((event) => event.data));
  });

  it('lets a producer whose 202 was lost retry with its Idempotency-Key: the replay carries no token, its key publishes', async () => {
    const body = { kind: 'external', title: 'Nightly import' };
    const headers = { ...bearer(KEY), 'Idempotency-Key': `lost-202-${Date.now()}` };
    const first = await request(`${a}/v1/jobs`, { json: body, headers });
    const replay = await request(`${b}/v1/jobs`, { json: body, headers });
    expect([first.status, replay.status]).toEqual([202, 200]);
    expect(replay.body.jobId).toBe(first.body.jobId);
    expect(replay.body.publishToken).toBeUndefined();
    expect(replay.body.links.publish).toBe(`/v1/jobs/${first.body.jobId}/events`);
    expect((await publish(replay.body.jobId, KEY, { status: 'done', result: 'imported' })).status).toBe(201);
  });

  it('lets the owning key publish as the publish token does; a watch token cannot publish (403)', async () => {
    const job = await external(KEY);
    expect((await publish(job.jobId, KEY)).status).toBe(201);
    expect((await publish(job.jobId, job.publishToken, { status: 'processing', progress: 20 })).status).toBe(201);
    const watch = await publish(job.jobId, job.watchToken, { status: 'processing', progress: 30 });
    expectError(watch, 403, 'forbidden');
    expect(watch.body.error.message).toMatch(/publish token/);
    // The owner's key on a job Herald runs itself: it exists, but takes no events from outside.
    const summary = (await submit(a, BEES, undefined, bearer(KEY))).body;
    expectError(await publish(summary.jobId, KEY), 409, 'not_external');
    // The owner's key on a job that does not exist.
    expectError(await publish('no-such-job-0123456789a', KEY), 404, 'not_found');
  });

  it('lets an admin key see, stream and cancel every job', async () => {
    const job = await external(KEY);
    const summary = (await submit(a, BEES, undefined, bearer(OTHER_KEY))).body;
    expect((await request(`${b}/v1/jobs/${summary.jobId}`, { headers: bearer(ADMIN_KEY) })).status).toBe(200);
    const stream = SseClient.open(`${b}/v1/jobs/${summary.jobId}/events`, bearer(ADMIN_KEY));
    await stream.finished();
    expect(stream.status).toBe(200);
    await expectExactHistory(system.redis, summary.jobId, stream.events);
    expect((await publish(job.jobId, ADMIN_KEY)).status).toBe(201);
    const cancelled = await request(`${b}/v1/jobs/${job.jobId}`, { method: 'DELETE', headers: bearer(ADMIN_KEY) });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.status).toBe('cancelled');
    // An admin key submits like any key; its jobs are its own.
    const own = (await submit(a, BEES, undefined, bearer(ADMIN_KEY))).body;
    expectError(await request(`${b}/v1/jobs/${own.jobId}`, { headers: bearer(KEY) }), 404, 'not_found');
  });

  it('keeps tokens working for whoever holds them, with no key at all', async () => {
    const job = await external(KEY);
    expect((await publish(job.jobId, job.publishToken)).status).toBe(201);
    expect((await request(`${b}/v1/jobs/${job.jobId}?token=${job.watchToken}`)).body).toMatchObject({ kind: 'external', progress: 10 });
    const stream = SseClient.open(`${b}${job.links.events}`);
    await stream.waitFor((client) => client.events.length === 2);
    expect((await publish(job.jobId, job.publishToken, { status: 'done', result: 'ok' })).status).toBe(201);
    await stream.finished();
    await expectExactHistory(system.redis, job.jobId, stream.events);
  });

  it('checks access on the job’s head (HMGET), never on its whole snapshot with the text so far', async () => {
    const job = await external(KEY);
    // A job whose snapshot holds a long text so far (`partial`).
    for (const offset of [0, 30_000, 60_000]) {
      const piece = { status: 'processing', progress: 10, delta: 't'.repeat(30_000), offset }; // MAX_DELTA_CHARS: 32,768
      expect((await publish(job.jobId, KEY, piece)).status).toBe(201);
    }
    const url = `${b}/v1/jobs/${job.jobId}`;
    const snapshotsRead = () => commandCalls(system.redis, 'hgetall');
    const before = await snapshotsRead();
    // Another key is refused on the owner alone: snapshot, stream, publish, cancel.
    expectError(await request(url, { headers: bearer(OTHER_KEY) }), 404, 'not_found');
    expectError(await request(`${url}/events`, { headers: { ...bearer(OTHER_KEY), Accept: 'text/event-stream' } }), 404, 'not_found');
    expectError(await publish(job.jobId, OTHER_KEY), 404, 'not_found');
    expectError(await request(url, { method: 'DELETE', headers: bearer(OTHER_KEY) }), 404, 'not_found');
    // The owner's stream begins from the head, and its publish checks the job's kind from it.
    const stream = SseClient.open(`${url}/events`, bearer(KEY));
    await stream.waitFor((client) => client.events.length === 4);
    expect((await publish(job.jobId, KEY, { status: 'processing', progress: 20 })).status).toBe(201);
    await stream.waitFor((client) => client.events.length === 5);
    expect(await snapshotsRead()).toBe(before);
    // Only what serves the snapshot itself reads it.
    expect((await request(url, { headers: bearer(KEY) })).body).toMatchObject({ partial: 't'.repeat(90_000) });
    expect(await snapshotsRead()).toBe(before + 1);
    stream.close();
    // A batch likewise: another key's snapshot and cancel are refused on the batch's owner alone.
    const batch = (await request(`${a}/v1/batches`, { json: { items: [{ text: BEES }, { text: BEES }] }, headers: bearer(KEY) })).body;
    // Once its jobs have run: a worker's BullMQ scripts read job hashes with HGETALL too.
    await expect
      .poll(async () => (await request(`${a}/v1/batches/${batch.batchId}`, { headers: bearer(KEY) })).body.status, { timeout: 10_000 })
      .toBe('done');
    await new Promise((resolve) => setTimeout(resolve, 200)); // the last job's own completion, in BullMQ
    const beforeBatch = await snapshotsRead();
    expectError(await request(`${b}/v1/batches/${batch.batchId}`, { headers: bearer(OTHER_KEY) }), 404, 'not_found');
    expectError(await request(`${b}/v1/batches/${batch.batchId}`, { method: 'DELETE', headers: bearer(OTHER_KEY) }), 404, 'not_found');
    expect(await snapshotsRead()).toBe(beforeBatch);
  });

  it('gives each key its own Idempotency-Keys: two keys that pick the same one get their own jobs', async () => {
    const headers = (key: string) => ({ ...bearer(key), 'Idempotency-Key': 'nightly-import' });
    const mine = await submit(a, BEES, undefined, headers(KEY));
    const theirs = await submit(b, BEES, undefined, headers(OTHER_KEY));
    expect([mine.status, theirs.status]).toEqual([202, 202]);
    expect(theirs.body.jobId).not.toBe(mine.body.jobId);
    const again = await submit(b, BEES, undefined, headers(KEY));
    expect(again.status).toBe(200);
    expect(again.body.jobId).toBe(mine.body.jobId);
  });
});

describe('with API keys: a reconnecting EventSource', () => {
  let slow: TestSystem;
  beforeAll(async () => {
    // Its own system: paced stages, and no other worker to race through the job.
    slow = await startSystem({ env: { ...AUTH_ON, STAGE_DELAY_MS: '300' } });
  });
  afterAll(() => slow.close());

  it('resumes an EventSource on the other replica with its token and its cursor', async () => {
    const [first, second] = slow.apis as [(typeof slow.apis)[0], (typeof slow.apis)[0]];
    const { body } = await submit(first.url, BEES, undefined, bearer(KEY));
    const requests: { url: string; lastEventId: string | undefined; lastSeen: string | undefined }[] = [];
    // The browser's EventSource, with one twist: its reconnect is routed to the other replica,
    // as a load balancer would once the first is gone.
    // (Its first request goes out from the constructor, before `watching` is assigned.)
    let watching: WatchingSource | undefined;
    watching = watchWithEventSource(`${first.url}${body.links.events}`, {
      fetch: (url, init) => {
        const target = requests.length === 0 ? String(url) : String(url).replace(first.url, second.url);
        requests.push({ url: target, lastEventId: init.headers['Last-Event-ID'], lastSeen: watching?.events.at(-1)?.id });
        return fetch(target, init);
      },
    });
    const { events, finished: done } = watching;
    await expect.poll(() => events.length).toBeGreaterThanOrEqual(2);
    await first.close(); // drains: its watchers are told to come back, elsewhere
    await done;
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests[1]!.url).toBe(`${second.url}/v1/jobs/${body.jobId}/events?token=${body.watchToken}`);
    // It resumed from exactly the last event it had, with the same token in its URL.
    expect(requests[1]!.lastEventId).toBeDefined();
    expect(requests[1]!.lastEventId).toBe(requests[1]!.lastSeen);
    await expectExactHistory(slow.redis, body.jobId, events);
  });
});

describe('WATCH_TOKEN_TTL_SECONDS', () => {
  let system: TestSystem;
  beforeAll(async () => {
    // No worker: the job stays queued, so its stream stays open for as long as the test needs.
    system = await startSystem({
      replicas: 1,
      workers: 0,
      env: { ...AUTH_ON, WATCH_TOKEN_TTL_SECONDS: '10' },
    });
  });
  afterAll(() => system.close());

  it('bounds how long a watch token lets its holder in; a stream opened in time is not cut', async () => {
    const api = system.apis[0]!.url;
    const { body } = await submit(api, BEES, undefined, bearer(KEY));
    const expiry = Number.parseInt((body.watchToken as string).split('.')[1]!, 36);
    expect(expiry - Date.now() / 1000).toBeGreaterThan(8);
    expect(expiry - Date.now() / 1000).toBeLessThanOrEqual(10);
    const open = SseClient.open(`${api}${body.links.events}`);
    await open.waitFor((client) => client.events.length === 1);
    expect((await request(`${api}/v1/jobs/${body.jobId}?token=${body.watchToken}`)).status).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry * 1000 - Date.now()) + 200));
    const late = await request(`${api}${body.links.events}`);
    expectError(late, 401, 'token_expired');
    expect(late.body.error.message).toBe('The watch token has expired');
    expectError(await request(`${api}/v1/jobs/${body.jobId}?token=${body.watchToken}`), 401, 'token_expired');
    // The key still reads it, and hands out a fresh token.
    const fresh = await request(`${api}/v1/jobs/${body.jobId}`, { headers: bearer(KEY) });
    expect((await request(`${api}/v1/jobs/${body.jobId}?token=${fresh.body.watchToken}`)).status).toBe(200);
    // The token is checked when a stream opens, not while it runs.
    expect(open.endedByServer).toBe(false);
    open.close();
  }, 30_000);
});

describe('CORS allowlist', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, env: { ...AUTH_ON, CORS_ORIGINS: 'https://app.example.com' } });
  });
  afterAll(() => system.close());

  it('answers a preflight and the stream for an allowed origin, and nothing for others', async () => {
    const url = system.apis[0]!.url;
    const preflight = (origin: string) =>
      fetch(`${url}/v1/jobs`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization,content-type',
        },
      });
    const allowed = await preflight('https://app.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();

    const { body } = await submit(url, BEES, undefined, bearer(KEY));
    const stream = SseClient.open(`${url}${body.links.events}`, { Origin: 'https://app.example.com' });
    await stream.finished();
    expect(stream.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(stream.events.length).toBeGreaterThan(1);
  });
});

describe('without API keys', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1 });
  });
  afterAll(() => system.close());

  it('is open: no key, no token needed, and no token handed out without a secret', async () => {
    const url = system.apis[0]!.url;
    const { status, body } = await submit(url, BEES);
    expect(status).toBe(202);
    expect(body.watchToken).toBeUndefined();
    expect(body.links.events).toBe(`/v1/jobs/${body.jobId}/events`);
    const stream = SseClient.open(`${url}${body.links.events}`);
    await stream.finished();
    await expectExactHistory(system.redis, body.jobId, stream.events);
    expect((await request(`${url}/v1/jobs/${body.jobId}`)).status).toBe(200);
  });
});

describe('access settings at start-up', () => {
  const env = (extra: Record<string, string>) => ({
    ...redisEnv(),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ...extra,
  });

  it('refuses keys without a token secret, * origins with keys, and short secrets — without echoing them', () => {
    expect(() => loadConfig(env({ API_KEYS: KEY }))).toThrow(/WATCH_TOKEN_SECRET: is required/);
    expect(() => loadConfig(env({ ...AUTH_ON, CORS_ORIGINS: '*' }))).toThrow(/CORS_ORIGINS=.*cannot be \*/);
    expect(() => loadConfig(env({ CORS_ORIGINS: 'app.example.com' }))).toThrow(ConfigError);
    let message = '';
    try {
      loadConfig(env({ API_KEYS: KEY, WATCH_TOKEN_SECRET: 'short-secret' }));
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/WATCH_TOKEN_SECRET: must be at least 32 characters/);
    expect(message).not.toContain('short-secret');
  });

  it('reads keys from API_KEYS_FILE, and refuses keys too short to be secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `# operators\n${KEY}\n\n`);
    const api = await startApi({ config: loadConfig(env({ API_KEYS_FILE: file, WATCH_TOKEN_SECRET: SECRET })), logger: silentLogger() });
    try {
      expect((await submit(api.url, BEES, undefined, bearer(KEY))).status).toBe(202);
      expect((await submit(api.url, BEES, undefined, bearer(OTHER_KEY))).status).toBe(401);
    } finally {
      await api.close();
    }
    await expect(
      startApi({ config: loadConfig(env({ API_KEYS: 'short', WATCH_TOKEN_SECRET: SECRET })), logger: silentLogger() }),
    ).rejects.toThrow(/API_KEYS \/ API_KEYS_FILE \/ ADMIN_API_KEYS: every key must be at least 16 characters/);
  });
});

const silentLogger = () => createLogger('test', 'silent');
