import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { batchJobId } from '@herald/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventPublisher, keys, readTagEntryStatus } from '@herald/shared';
import { createClient, type WatchedTagEvent } from '../../packages/client/src/index.ts';
import { expectError } from '../support/assertions.ts';
import { AUDIENCE, ISSUER, type JwksServer, mintJwt, type SigningKey, signingKey, startJwksServer } from '../support/jwks-server.ts';
import { request } from '../support/http.ts';
import { type ReceivedEvent, SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';
import { tagOpenScript, tagPageScript, tagRelayScript } from '../../packages/shared/src/redis/scripts/tag-feed.ts';

// A tag's stream (docs/api.md, "A tag's stream"): every event of every job tagged T that the
// caller may see, from one Redis Stream per tag that each publish relays into
// (redis/scripts/tag-relay-n.lua). Run on one Redis and on the Cluster (vitest.config.ts,
// ON_CLUSTER), where a tag's jobs live on other slots than its feed.

const run = randomBytes(4).toString('hex');
const KEY = `key-tags-${run}-alpha-0123456789`;
const OTHER_KEY = `key-tags-${run}-bravo-0123456789`;
const ADMIN_KEY = `key-tags-${run}-admin-0123456789`;
const SECRET = 'a-watch-token-secret-of-forty-characters!';
const bearer = (credential: string) => ({ Authorization: `Bearer ${credential}` });
const uniqueTag = (name: string) => `${name}:${run}:${randomBytes(3).toString('hex')}`;

interface Made {
  readonly jobId: string;
  readonly publishToken: string;
  readonly watchToken: string;
}

describe('GET /v1/events?tag=T', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  let es256: SigningKey;
  let jwks: JwksServer;
  beforeAll(async () => {
    es256 = await signingKey('ES256', 'es-tags');
    jwks = await startJwksServer([es256]);
    system = await startSystem({
      env: {
        API_KEYS: `${KEY}, ${OTHER_KEY}`,
        ADMIN_API_KEYS: ADMIN_KEY,
        WATCH_TOKEN_SECRET: SECRET,
        WATCH_JWKS_URL: jwks.url,
        WATCH_JWT_ISSUER: ISSUER,
        WATCH_JWT_AUDIENCE: AUDIENCE,
        SSE_RETRY_MS: '200', // watchTag's reconnect waits what the server says
      },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(async () => {
    await system.close();
    await jwks.close();
  });

  const external = async (base: string, body: Record<string, unknown>, key = KEY): Promise<Made> => {
    const created = await request(`${base}/v1/jobs`, { json: { kind: 'external', ...body }, headers: bearer(key) });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    return created.body as Made;
  };
  const publish = async (base: string, job: Made, body: Record<string, unknown>): Promise<void> => {
    const published = await request(`${base}/v1/jobs/${job.jobId}/events`, { json: body, headers: bearer(job.publishToken) });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
  };
  /** The job's events as its own Stream holds them: the JSON of each, in order. */
  const stored = async (jobId: string): Promise<string[]> =>
    ((await system.redis.xrange(keys.events(jobId), '-', '+')) as [string, string[]][]).map(
      ([, fields]) => fields[fields.indexOf('d') + 1]!,
    );
  /** What the streams delivered, job by job: each event's JSON, in the order received. */
  const byJob = (events: readonly ReceivedEvent[]): Map<string, string[]> => {
    const jobs = new Map<string, string[]>();
    for (const event of events) {
      const list = jobs.get(event.json.jobId) ?? [];
      list.push(event.data);
      jobs.set(event.json.jobId, list);
    }
    return jobs;
  };
  const receivedAll = (clients: readonly SseClient[], histories: ReadonlyMap<string, readonly string[]>) => () => {
    const got = byJob(clients.flatMap((client) => client.events));
    return [...histories].every(([jobId, history]) => (got.get(jobId)?.length ?? 0) >= history.length);
  };

  it('carries the jobs not ended when it opens from their first event and every job after, each once and in order, across a drop resumed on the other replica', async () => {
    const tag = uniqueTag('user');
    const endedBefore = await external(a, { tags: [tag] });
    await publish(a, endedBefore, { status: 'done', result: 'old' });
    const openBefore = await external(a, { tags: ['other', tag] });
    await publish(a, openBefore, { status: 'processing', progress: 10, message: 'Reading', metadata: { rows: 1 } });
    const anotherKeys = await external(a, { tags: [tag] }, OTHER_KEY);
    await publish(a, anotherKeys, { status: 'processing', progress: 5 });
    const untagged = await external(a, {});
    await publish(a, untagged, { status: 'processing', progress: 5 });

    const first = SseClient.open(`${a}/v1/events?tag=${tag}&typed=1`, bearer(KEY));
    await first.waitFor((client) => client.events.length >= 2);
    expect(first.status).toBe(200);
    const afterOpen = await external(a, { tags: [tag] });
    await publish(a, afterOpen, { status: 'processing', progress: 20, delta: 'Bees ', offset: 0 });
    await first.waitFor((client) => byJob(client.events).get(afterOpen.jobId)?.length === 2);
    first.close();
    await first.done;
    const cursor = first.lastEventId!;

    // While no one watches: a job begins, one goes on, one ends.
    const duringDrop = await external(b, { tags: [tag] });
    await publish(b, duringDrop, { status: 'processing', progress: 50, stream: 'log', delta: 'frame 1\n', offset: 0 });
    await publish(b, openBefore, { status: 'done', result: { rows: 2 } });

    const second = SseClient.open(`${b}/v1/events?tag=${tag}&typed=1`, { ...bearer(KEY), 'Last-Event-ID': cursor });
    await publish(a, afterOpen, { status: 'done', result: 'Bees buzz.' });
    const histories = new Map<string, string[]>();
    for (const job of [openBefore, afterOpen, duringDrop]) histories.set(job.jobId, await stored(job.jobId));
    await second.waitFor(receivedAll([first, second], histories));
    second.close();

    const got = byJob([...first.events, ...second.events]);
    // Exactly the three jobs this key may see that were open at the opening or came after it.
    expect(new Set(got.keys())).toEqual(new Set(histories.keys()));
    for (const [jobId, history] of histories) expect(got.get(jobId), jobId).toEqual(history);
    // A job's first event brings it in: `created` on a typed stream; the others by their kind.
    for (const client of [first, second]) {
      for (const event of client.events) {
        const isFirst = event.json.status === 'queued';
        expect(event.name, event.data).toBe(
          isFirst
            ? 'created'
            : event.json.status === 'processing'
              ? event.data.includes('"delta"')
                ? 'delta'
                : 'progress'
              : event.json.status,
        );
      }
    }
    expect(first.events[0]!.json.jobId).toBe(openBefore.jobId);
    // Every cursor is short, whatever the tag holds.
    for (const event of [...first.events, ...second.events]) expect(event.id!.length).toBeLessThan(80);
  });

  it('resumed from any id it gave, even mid-replay, sends exactly what followed that id', async () => {
    const tag = uniqueTag('resume');
    const x = await external(a, { tags: [tag] });
    const y = await external(a, { tags: [tag] });
    await publish(a, x, { status: 'processing', progress: 10 });
    await publish(a, y, { status: 'processing', progress: 10 });
    await publish(a, y, { status: 'done', result: 'y' }); // ended before the stream opens: left out
    await publish(a, x, { status: 'processing', progress: 20 });
    const z = await external(a, { tags: [tag] });
    await publish(a, z, { status: 'processing', progress: 30 });
    const whole = SseClient.open(`${a}/v1/events?tag=${tag}`, bearer(KEY));
    await whole.waitFor((client) => client.events.length >= 5);
    await publish(b, x, { status: 'done', result: 'x' });
    await whole.waitFor((client) => client.events.length >= 6);
    whole.close();
    expect(whole.events.map((event) => event.json.jobId)).toEqual([x, x, x, z, z, x].map((job) => job.jobId));
    // The replay's ids carry the open point (`<entry>,<open point>`); the live one is the entry alone.
    expect(whole.events.slice(0, 5).every((event) => event.id!.includes(','))).toBe(true);
    expect(whole.events[5]!.id).not.toContain(',');
    for (const [i, event] of whole.events.entries()) {
      const resumed = SseClient.open(`${b}/v1/events?tag=${tag}`, { ...bearer(KEY), 'Last-Event-ID': event.id! });
      const rest = whole.events.slice(i + 1);
      await resumed.waitFor((client) => client.status === 200 && client.events.length >= rest.length);
      // Nothing more comes (a heartbeat's worth is not waited for: another event would be there by now).
      await new Promise((resolve) => setTimeout(resolve, 100));
      resumed.close();
      expect(resumed.events.map((e) => [e.id, e.data])).toEqual(rest.map((e) => [e.id, e.data]));
    }
  });

  it('shows a key its own jobs of the tag, an admin every key’s; refuses the malformed and the uncovered', async () => {
    const tag = uniqueTag('team');
    const mine = await external(a, { tags: [tag] });
    const theirs = await external(a, { tags: [tag] }, OTHER_KEY);
    const jobsOf = async (key: string): Promise<Set<string>> => {
      const client = SseClient.open(`${b}/v1/events?tag=${tag}`, bearer(key));
      const marker = await external(a, { tags: [tag] }, key === ADMIN_KEY ? KEY : key);
      await client.waitFor((c) => c.events.some((event) => event.json.jobId === marker.jobId));
      client.close();
      return new Set(client.events.map((event) => event.json.jobId).filter((jobId) => jobId !== marker.jobId));
    };
    expect(await jobsOf(KEY)).toEqual(new Set([mine.jobId]));
    expect(await jobsOf(OTHER_KEY)).toEqual(new Set([theirs.jobId]));
    const all = await jobsOf(ADMIN_KEY);
    expect(all.has(mine.jobId) && all.has(theirs.jobId)).toBe(true);

    expectError(await request(`${a}/v1/events?tag=${tag}`), 401, 'unauthorized');
    // A job's watch token names a job, never a tag (a tag could be spelled like a job id).
    expectError(await request(`${a}/v1/events?tag=${mine.jobId}&token=${mine.watchToken}`), 403, 'forbidden');
    for (const query of ['tag=', `tag=${'x'.repeat(65)}`, 'tag=a%7Bb%7D', `tag=${tag}&tag=${tag}`, `tag=${tag}&jobs=${mine.jobId}`]) {
      expectError(await request(`${a}/v1/events?${query}`, { headers: bearer(KEY) }), 400, 'invalid_request');
    }
    for (const cursor of ['abc', '1-1,', '1-1,x', '1-1,2-2,3-3']) {
      expectError(
        await request(`${a}/v1/events?tag=${tag}`, { headers: { ...bearer(KEY), 'Last-Event-ID': cursor } }),
        400,
        'invalid_request',
      );
    }
  });

  it('lets a watch JWT whose herald claim lists the tag see every key’s jobs of it, and no other tag', async () => {
    const tag = uniqueTag('jwt');
    const mine = await external(a, { tags: [tag] });
    const theirs = await external(a, { tags: [tag] }, OTHER_KEY);
    const jwt = await mintJwt(es256, { claim: { tags: [tag] } });
    const client = SseClient.open(`${b}/v1/events?tag=${tag}&token=${jwt}`);
    await client.waitFor((c) => new Set(c.events.map((event) => event.json.jobId)).size === 2);
    client.close();
    expect(new Set(client.events.map((event) => event.json.jobId))).toEqual(new Set([mine.jobId, theirs.jobId]));
    expectError(await request(`${a}/v1/events?tag=${uniqueTag('elsewhere')}`, { headers: bearer(jwt) }), 403, 'forbidden');
    // A JWT that lists the job, not the tag, watches the job and not the tag.
    const jobJwt = await mintJwt(es256, { jobs: [mine.jobId] });
    expectError(await request(`${a}/v1/events?tag=${tag}&token=${jobJwt}`), 403, 'forbidden');
  });

  it('is what @herald/client’s watchTag reads: each job’s fold, across a drop resumed on the other replica', async () => {
    const tag = uniqueTag('client');
    const job = await external(a, { tags: [tag], metadata: { rows: 0 } });
    const seen: WatchedTagEvent[] = [];
    const abort = new AbortController();
    // A load balancer: the first connection goes to a and is cut after two events; every later one goes to b.
    const cut = new AbortController();
    const urls: string[] = [];
    const client = createClient({
      baseUrl: a,
      apiKey: KEY,
      fetch: (input, init) => {
        const url = urls.length === 0 ? String(input) : String(input).replace(a, b);
        urls.push(url);
        return fetch(
          url,
          urls.length === 1 ? { ...init, signal: AbortSignal.any([cut.signal, ...(init?.signal ? [init.signal] : [])]) } : init,
        );
      },
    });
    const reading = (async () => {
      for await (const item of client.watchTag(tag, { signal: abort.signal, initialRetryMs: 50 })) {
        seen.push(item);
        if (seen.length === 2) cut.abort();
        if (item.kind === 'job' && item.event.status === 'done') abort.abort();
      }
    })().catch((error: unknown) => {
      if (!abort.signal.aborted) throw error;
    });
    await publish(a, job, { status: 'processing', progress: 10, delta: 'Bees ', offset: 0, metadata: { rows: 4 } });
    // The rest only once the first connection is cut: they can reach the watcher through b alone.
    while (!cut.signal.aborted) await sleep(10);
    await publish(b, job, { status: 'processing', progress: 50, delta: 'buzz.', offset: 5 });
    await publish(b, job, { status: 'done', result: 'Bees buzz.' });
    await reading;
    expect(urls.length).toBeGreaterThanOrEqual(2);
    expect(urls.slice(1).every((url) => url.startsWith(b))).toBe(true);
    const events = seen.filter((item) => item.kind === 'job');
    expect(events.map((item) => item.event.status)).toEqual(['queued', 'processing', 'processing', 'done']);
    expect(events[0]!.created).toBe(true);
    expect(events[2]!.partial).toBe('Bees buzz.');
    expect(events[2]!.metadata).toEqual({ rows: 4 });
  });

  it('keeps each job’s events in its order in every tag’s feed when publishers race, and a relay that never came is made good by the next publish', async () => {
    const tags = [uniqueTag('race'), uniqueTag('race')];
    const job = await external(a, { tags });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => publish(i % 2 === 0 ? a : b, job, { status: 'processing', progress: 1, message: `step ${i}` })),
    );
    // A publisher that dies between its publish and its relay: this one relays nothing.
    const silent = new EventPublisher(system.redis, { ttlSeconds: 60, streamMaxLen: 1_000 });
    await silent.publish(job.jobId, { status: 'processing', progress: 1, message: 'unrelayed' });
    await publish(a, job, { status: 'done', result: 'ok' });
    const history = await stored(job.jobId);
    expect(history).toHaveLength(43);
    for (const tag of tags) {
      const feed = (await system.redis.xrange(keys.tagFeed(tag), '-', '+')) as [string, string[]][];
      const entries = feed.map(([, fields]) => ({
        data: fields[fields.indexOf('d') + 1]!,
        job: fields[fields.indexOf('j') + 1]!,
        entry: readTagEntryStatus(fields[fields.indexOf('s') + 1]!),
      }));
      expect(entries.every((entry) => entry.job === job.jobId)).toBe(true);
      expect(entries.map((entry) => entry.data)).toEqual(history);
      expect(entries.map((entry) => entry.entry?.first)).toEqual(history.map((_, i) => i === 0));
    }
  });

  it('relays a job’s events once each when two publishers both fill the gap of a first relay that failed', async () => {
    const tag = uniqueTag('refill');
    const jobId = `refill-${randomBytes(4).toString('hex')}`;
    const events = ['1-0', '2-0', '3-0'].map((id, i) => ({
      id,
      status: i === 2 ? 'done' : 'processing',
      data: JSON.stringify({ jobId, step: i }),
    }));
    const relay = async (prev: string | null, given: typeof events) =>
      (
        await tagRelayScript(system.redis, {
          tag,
          jobs: [{ jobId, owner: null, prev, events: given }],
          maxLen: 1_000,
          maxBytes: 0,
          ttlSeconds: 60,
          now: Date.now(),
        })
      )[0];
    // The job's first relay never came: both racing publishers hear where the chain stops ('' : nothing yet).
    expect(await relay('1-0', [events[1]!])).toEqual({ outcome: 'gap', last: null });
    expect(await relay('2-0', [events[2]!])).toEqual({ outcome: 'gap', last: null });
    // One fills [e0, e1]; the other's fill [e0, e1, e2] finds e0 and e1 in and appends e2.
    expect(await relay(null, events.slice(0, 2))).toEqual({ outcome: 'relayed', appended: 2 });
    expect(await relay(null, events)).toEqual({ outcome: 'relayed', appended: 1 });
    const feed = (await system.redis.xrange(keys.tagFeed(tag), '-', '+')) as [string, string[]][];
    expect(feed.map(([, fields]) => fields[fields.indexOf('d') + 1])).toEqual(events.map((event) => event.data));
    expect(await system.redis.zscore(keys.tagOpen(tag), jobId)).toBeNull();
  });

  /** system.redis, with the tag relay script's calls counted, and the first `failing` of them refused. */
  const relayCounting = (failing = 0) => {
    const counted = { calls: 0, failing };
    const redis = new Proxy(system.redis, {
      get(target, name) {
        const value: unknown = Reflect.get(target, name, target);
        if (typeof value !== 'function') return value;
        if (name !== 'heraldTagRelay') return value.bind(target);
        return (...args: unknown[]) => {
          counted.calls += 1;
          if (counted.failing > 0) {
            counted.failing -= 1;
            return Promise.reject(new Error('the tag’s node is away'));
          }
          return value.apply(target, args);
        };
      },
    });
    return { redis, counted };
  };
  const feedJobs = async (tag: string): Promise<string[]> =>
    ((await system.redis.xrange(keys.tagFeed(tag), '-', '+')) as [string, string[]][]).map(
      ([, fields]) => fields[fields.indexOf('j') + 1]!,
    );

  it('relays a batch’s creation with one script call per tag and per 500 jobs, not one per job and tag', async () => {
    const [every, some] = [uniqueTag('many'), uniqueTag('some')];
    const { redis, counted } = relayCounting();
    const publisher = new EventPublisher(redis, { ttlSeconds: 60, streamMaxLen: 1_000, tagFeedMaxLen: 10_000 });
    const batchId = `batch_${randomBytes(8).toString('hex')}`;
    const jobIds = Array.from({ length: 600 }, (_, i) => batchJobId(batchId, i));
    const tags = jobIds.map((_, i) => (i % 10 === 0 ? [every, some] : [every]));
    expect(
      await publisher.createBatch(
        batchId,
        jobIds,
        { status: 'queued', progress: 0, message: 'Queued' },
        { batch: {}, job: { owner: 'k' }, tags },
      ),
    ).toBe(true);
    // `every`: 600 jobs, two calls (500 + 100); `some`: 60 jobs, one.
    expect(counted.calls).toBe(3);
    expect(await feedJobs(every)).toEqual(jobIds);
    expect(await feedJobs(some)).toEqual(jobIds.filter((_, i) => i % 10 === 0));
  });

  it('retries a failed relay in the background, so the event reaches the feed without a later publish', async () => {
    const tag = uniqueTag('retry');
    const job = await external(a, { tags: [tag] });
    const { redis, counted } = relayCounting(2);
    const publisher = new EventPublisher(redis, { ttlSeconds: 60, streamMaxLen: 1_000, tagFeedMaxLen: 10_000 });
    // Resolves after the first try, which fails: the publish is not held by the retries.
    await publisher.publish(job.jobId, { status: 'processing', progress: 40, message: 'relayed late' });
    expect(counted.calls).toBe(1);
    expect(await feedJobs(tag)).toHaveLength(1); // its `queued`, relayed by the API
    // The second try (after 200 ms) fails too; the third (a second later) gets it in.
    await expect.poll(() => feedJobs(tag), { timeout: 5_000, interval: 100 }).toHaveLength(2);
    expect(counted.calls).toBe(3);
  });

  it('starts a key’s fresh stream from the oldest of its own open jobs, and reads it only that key’s entries', async () => {
    const tag = uniqueTag('tenants');
    const othersOld = await external(a, { tags: [tag] }, OTHER_KEY);
    await publish(a, othersOld, { status: 'processing', progress: 5 });
    const endedUnseen = await external(a, { tags: [tag] });
    const silent = new EventPublisher(system.redis, { ttlSeconds: 60, streamMaxLen: 1_000 });
    await silent.publish(endedUnseen.jobId, { status: 'done', progress: 100, message: 'Done', result: 'unseen' });
    const mine = await external(a, { tags: [tag] });
    await publish(a, mine, { status: 'processing', progress: 10 });
    const owner = (await system.redis.hget(keys.snapshot(mine.jobId), 'owner'))!;
    // Every key's oldest is the other key's job; this key's own set starts at its own.
    expect((await tagOpenScript(system.redis, tag)).oldestOpenJob).toBe(othersOld.jobId);
    expect((await tagOpenScript(system.redis, tag, owner)).oldestOpenJob).toBe(endedUnseen.jobId);
    // A fresh stream of the key settles its job that ended unseen: it leaves both open sets.
    const client = SseClient.open(`${a}/v1/events?tag=${tag}`, bearer(KEY));
    await client.waitFor((c) => c.events.length >= 2);
    client.close();
    expect(client.events.map((event) => event.json.jobId)).toEqual([mine.jobId, mine.jobId]);
    expect(await system.redis.zscore(keys.tagOpen(tag), endedUnseen.jobId)).toBeNull();
    expect(await system.redis.zscore(keys.tagOpen(tag, owner), endedUnseen.jobId)).toBeNull();
    expect((await tagOpenScript(system.redis, tag, owner)).oldestOpenJob).toBe(mine.jobId);
    // A page for one key: Redis drops the other key's entries, though it read them.
    const page = await tagPageScript(system.redis, tag, null, 100, null, owner);
    const feedLength = await system.redis.xlen(keys.tagFeed(tag));
    expect(page.read).toBe(feedLength);
    expect(page.events.length).toBeGreaterThan(0);
    expect(page.events.every((event) => readTagEntryStatus(event.status)?.owner === owner)).toBe(true);
    expect(page.events.length).toBe(feedLength - 2); // the other key's two entries
  });

  it('begins with a resync notice when resumed on a feed that expired, or was made anew since', async () => {
    const tag = uniqueTag('expired');
    const job = await external(a, { tags: [tag] });
    await publish(a, job, { status: 'processing', progress: 10 });
    const first = SseClient.open(`${a}/v1/events?tag=${tag}`, bearer(KEY));
    await first.waitFor((c) => c.events.length >= 2);
    first.close();
    const cursor = first.lastEventId!;
    // Gone (JOB_TTL_SECONDS past its last relay): nothing holds where the cursor was.
    await system.redis.del(keys.tagFeed(tag));
    const onMissing = SseClient.open(`${b}/v1/events?tag=${tag}&typed=1`, { ...bearer(KEY), 'Last-Event-ID': cursor });
    await onMissing.waitFor((c) => c.events.length >= 1);
    onMissing.close();
    expect(onMissing.events[0]!.name).toBe('resync');
    // Made anew by the job's next event: it holds that one only, and its counters say nothing was trimmed.
    await publish(a, job, { status: 'processing', progress: 20 });
    const onRemade = SseClient.open(`${b}/v1/events?tag=${tag}&typed=1`, { ...bearer(KEY), 'Last-Event-ID': cursor });
    await onRemade.waitFor((c) => c.events.length >= 2);
    onRemade.close();
    expect(onRemade.events[0]!.name).toBe('resync');
    expect(onRemade.events.slice(1).map((event) => event.json.progress)).toEqual([20]);
  });

  it('holds no fresh stream to the start of a job whose end was never relayed, or that is gone', async () => {
    const tag = uniqueTag('settle');
    // Ended by a publisher that died before its relay: the feed still holds it open.
    const unrelayedEnd = await external(a, { tags: [tag] });
    const silent = new EventPublisher(system.redis, { ttlSeconds: 60, streamMaxLen: 1_000 });
    await silent.publish(unrelayedEnd.jobId, { status: 'done', progress: 100, message: 'Done', result: 'ended unseen' });
    // Gone, as a submission that rolled back leaves it: in the feed, nowhere else.
    const gone = await external(a, { tags: [tag] });
    await system.redis.del(keys.events(gone.jobId), keys.snapshot(gone.jobId));
    const open = await external(a, { tags: [tag] });
    const client = SseClient.open(`${b}/v1/events?tag=${tag}`, bearer(KEY));
    await client.waitFor((c) => c.status === 200 && c.events.length >= 1);
    await publish(a, open, { status: 'processing', progress: 30 });
    await client.waitFor((c) => c.events.some((event) => event.json.status === 'processing'));
    client.close();
    expect(client.events.map((event) => [event.json.jobId, event.json.status])).toEqual([
      [open.jobId, 'queued'],
      [open.jobId, 'processing'],
    ]);
    // The ended job's end is in the feed now, made good from its own Stream.
    const feed = (await system.redis.xrange(keys.tagFeed(tag), '-', '+')) as [string, string[]][];
    expect(feed.some(([, fields]) => fields.includes(unrelayedEnd.jobId) && fields.some((field) => field.startsWith('done/')))).toBe(true);
  });

  it('brings a tagged batch’s jobs in, each with its first event', async () => {
    const tag = uniqueTag('batch');
    const client = SseClient.open(`${a}/v1/events?tag=${tag}&typed=1`, bearer(KEY));
    await client.waitFor((c) => c.status === 200);
    const created = await request(`${b}/v1/batches`, {
      json: { tags: [tag], items: [{ text: BEES }, { text: BEES, tags: ['more'] }, { text: BEES }] },
      headers: bearer(KEY),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const jobIds = created.body.jobIds as string[];
    // The worker runs them meanwhile: each job's first event in the stream is its `created`, whatever came between.
    const firstOf = (c: SseClient) => new Map([...c.events].reverse().map((event) => [event.json.jobId, event]));
    await client.waitFor((c) => firstOf(c).size === 3);
    client.close();
    const firsts = firstOf(client);
    expect([...firsts.keys()].sort()).toEqual([...jobIds].sort());
    for (const event of firsts.values()) expect([event.name, event.json.status]).toEqual(['created', 'queued']);
  });
});
