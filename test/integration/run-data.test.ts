import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldMetadata, foldPartial, foldStreams, type JobEvent, mergePatch, type ProgressUpdate } from '@herald/contract';
import { EventPublisher, EventReader, createLogger, keys, type RedisClient } from '@herald/shared';
import { z } from 'zod';
import { CancellationWatcher } from '../../packages/worker/src/jobs/cancellation.ts';
import { defineJobKind } from '../../packages/worker/src/jobs/kind.ts';
import { runJob } from '../../packages/worker/src/jobs/run-job.ts';
import { createClient, type WatchedEvent } from '../../packages/client/src/index.ts';
import { expectError } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { connectTestRedis } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// A job's run data (docs/api.md, "Metadata" and "Named streams"): metadata patches merged by
// the publish script (publish-6.lua, on the JSON text) and named streams folded beside the
// answer, on the run's Redis (and again on the Cluster: vitest.config.ts, ON_CLUSTER).

type Json = unknown;
const newId = (): string => `m${randomBytes(16).toString('base64url').slice(0, 21)}`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('the publish script merges metadata patches exactly as RFC 7396 says (a JS reference)', () => {
  let redis: RedisClient;
  let publisher: EventPublisher;
  let reader: EventReader;
  beforeAll(() => {
    redis = connectTestRedis('run-data');
    publisher = new EventPublisher(redis, { ttlSeconds: 60, streamMaxLen: 10_000, maxMetadataBytes: 1 << 20 });
    reader = new EventReader(redis);
  });
  afterAll(() => redis.disconnect());

  /** A job created with `initial`, then each patch published; after each, the stored JSON against the reference. */
  async function checkFold(initial: Record<string, Json> | undefined, patches: readonly Record<string, Json>[]): Promise<void> {
    const jobId = newId();
    const first: ProgressUpdate = { status: 'queued', progress: 0, message: 'Waiting', ...(initial ? { metadata: initial } : {}) };
    await publisher.create(jobId, first, { kind: 'external' });
    let expected: Json = initial === undefined ? undefined : mergePatch({}, initial);
    for (const patch of patches) {
      await publisher.publish(jobId, { status: 'processing', progress: 1, message: 'Working', metadata: patch });
      expected = mergePatch(expected ?? {}, patch);
      // Byte for byte what JSON.stringify writes for the reference's object (keys here are never
      // integer-like, which JavaScript would order first): nothing rounded, re-escaped or reordered.
      expect(await redis.hget(keys.snapshot(jobId), 'metadata')).toBe(JSON.stringify(expected));
    }
    expect((await reader.snapshot(jobId))?.metadata).toEqual(expected);
  }

  it('values it does not touch keep their JSON text: big and small numbers, unicode, escapes, {} and [] told apart', async () => {
    const tricky = {
      big: 1234567890123456, // 16 digits: cjson would have written 1.2345678901235e+15
      huge: 12345678901234567000, // past 2^53, as JSON.parse reads 12345678901234567890
      maxSafe: Number.MAX_SAFE_INTEGER,
      tiny: 1e-7,
      tenth: 0.1,
      third: 1 / 3,
      minus: -42.5,
      text: 'bees 🐝 ✓ \u2028 "quoted" back\\slash /slash\n\ttab \u0001',
      'key with "quotes" and 🐝': { inner: 'é' },
      empty: {},
      none: [],
      list: [1, { a: null }, [], {}, 'x'],
      yes: true,
      no: false,
    };
    await checkFold(tricky, [
      { touched: 1 },
      { big: 2, empty: { now: 'full' } },
      { none: [{}], list: null },
      { 'key with "quotes" and 🐝': { inner: null, other: '✓' } },
    ]);
  });

  it('null deletes (nested too), objects merge, arrays and scalars replace whole; a first patch with nulls drops them', async () => {
    await checkFold({ a: { b: { c: 1, d: 2 }, e: [1, 2] }, gone: null, f: 'x' }, [
      { a: { b: { c: null } } },
      { a: { e: [3] } },
      { a: { b: null }, f: { now: 'an object' } },
      { f: 'a string again', g: { h: { i: null, j: [] } } },
      { a: null, g: null, f: null },
      // A member named __proto__ is a member like any other (JSON.parse makes it an own one).
      JSON.parse('{"__proto__":{"polluted":true},"k":1}') as Record<string, Json>,
    ]);
  });

  it('agrees with the reference over many random patches', async () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const names = ['k', 'rows', 'é', 'x y', 'q"'];
    const value = (depth: number): Json => {
      const kind = random();
      if (depth < 3 && kind < 0.35) {
        const object: Record<string, Json> = {};
        for (let i = Math.floor(random() * 3); i >= 0; i -= 1) object[pick(names)] = random() < 0.25 ? null : value(depth + 1);
        return object;
      }
      if (kind < 0.45) return [value(depth + 1), random()];
      if (kind < 0.65) return Math.floor(random() * 1e6) - 5e5 + pick([0, 0.5, 1e-3]);
      if (kind < 0.85) return pick(['', 'a', '🐝', 'line\nbreak', '\\', '"']);
      return pick([true, false]);
    };
    const patch = (): Record<string, Json> => {
      const object: Record<string, Json> = {};
      for (let i = Math.floor(random() * 4); i >= 0; i -= 1) object[pick(names)] = random() < 0.3 ? null : value(1);
      return object;
    };
    for (let job = 0; job < 3; job += 1) {
      await checkFold(
        patch(),
        Array.from({ length: 40 }, () => patch()),
      );
    }
  });
});

describe('run data through the API: metadata that changes, named streams', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  beforeAll(async () => {
    system = await startSystem({ workers: 0, env: { MAX_METADATA_BYTES: '400', MAX_STREAM_CHARS: '40', PUBLISH_RATE_PER_JOB: '0' } });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
  });
  afterAll(() => system.close());

  async function createExternal(metadata?: Record<string, Json>) {
    const created = await request(`${a}/v1/jobs`, { json: { kind: 'external', ...(metadata ? { metadata } : {}) } });
    expect(created.status).toBe(202);
    const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };
    const publish = (event: unknown, base = a) =>
      request(`${base}/v1/jobs/${jobId}/events`, { json: event, headers: bearer(publishToken) });
    const snapshot = async () => (await request(`${b}/v1/jobs/${jobId}`)).body as Record<string, Json>;
    return { jobId, publish, snapshot };
  }

  const foldAll = (events: readonly JobEvent[]) =>
    events.reduce(
      (state, event) => ({
        metadata: foldMetadata(state.metadata, event),
        streams: foldStreams(state.streams, event),
        partial: foldPartial(state.partial, event),
      }),
      { metadata: {} as Record<string, Json>, streams: {} as Readonly<Record<string, string>>, partial: '' },
    );

  it('folding the patches of the stream from its start, across a resume on the other replica, gives the snapshot’s metadata', async () => {
    const job = await createExternal({ rows: { done: 0, total: 1000 }, errors: 0, note: 'starting', dropped: null });
    const first = SseClient.open(`${b}/v1/jobs/${job.jobId}/events`);
    expect((await job.publish({ status: 'processing', progress: 10, metadata: { rows: { done: 400 }, errors: 3 } }, a)).status).toBe(201);
    expect((await job.publish({ status: 'processing', metadata: { note: null, files: ['a.csv'] } }, b)).status).toBe(201);
    await first.waitFor((client) => client.events.length === 3);
    first.close();
    // While nobody watches, more patches; then a resume on the other replica from the last id seen.
    expect(
      (await job.publish({ status: 'processing', progress: 50, metadata: { rows: { done: 700 }, files: ['a.csv', 'b.csv'] } })).status,
    ).toBe(201);
    expect(
      (await job.publish({ status: 'processing', metadata: { rows: { total: null }, errors: { count: 4, last: 'row 612' } } })).status,
    ).toBe(201);
    const resumed = SseClient.open(`${a}/v1/jobs/${job.jobId}/events`, { 'Last-Event-ID': first.lastEventId! });
    await resumed.waitFor((client) => client.events.length === 2);
    resumed.close();
    const events = [...first.events, ...resumed.events].map((event) => event.json);
    expect(events[0]!.metadata).toEqual({ rows: { done: 0, total: 1000 }, errors: 0, note: 'starting', dropped: null });
    expect(events.map((event) => event.status)).toEqual(['queued', 'processing', 'processing', 'processing', 'processing']);
    const snapshot = await job.snapshot();
    expect(snapshot.metadata).toEqual({ rows: { done: 700 }, errors: { count: 4, last: 'row 612' }, files: ['a.csv', 'b.csv'] });
    expect(foldAll(events).metadata).toEqual(snapshot.metadata);
    // A terminal event may carry a patch too; the snapshot keeps the merged object after the end.
    expect((await job.publish({ status: 'done', result: 'ok', metadata: { rows: { done: 1000 } } })).status).toBe(201);
    expect((await job.snapshot()).metadata).toEqual({
      rows: { done: 1000 },
      errors: { count: 4, last: 'row 612' },
      files: ['a.csv', 'b.csv'],
    });
  });

  it('a patch that would make the merged metadata pass MAX_METADATA_BYTES: 413 metadata_too_large, nothing published', async () => {
    const job = await createExternal({ name: 'x'.repeat(300) });
    const length = await system.redis.xlen(keys.events(job.jobId));
    const before = await job.snapshot();
    // 100 more bytes of value would make it ~420 bytes of JSON: over 400, though the patch alone is small.
    const refused = await job.publish({ status: 'processing', progress: 20, message: 'Counting', metadata: { more: 'y'.repeat(100) } });
    expectError(refused, 413, 'metadata_too_large');
    expect(await system.redis.xlen(keys.events(job.jobId))).toBe(length);
    expect(await job.snapshot()).toEqual(before);
    // A patch that deletes makes room; one that fits is taken.
    expect((await job.publish({ status: 'processing', metadata: { name: null, more: 'y'.repeat(100) } })).status).toBe(201);
    expect((await job.snapshot()).metadata).toEqual({ more: 'y'.repeat(100) });
    // At creation, over the bound is a 400.
    const tooBig = await request(`${a}/v1/jobs`, { json: { kind: 'external', metadata: { name: 'x'.repeat(500) } } });
    expectError(tooBig, 400, 'invalid_request');
    // A patch too deep is a 400, as metadata at creation is.
    let deep: Record<string, Json> = { leaf: 1 };
    for (let i = 0; i < 40; i += 1) deep = { deep };
    expectError(await job.publish({ status: 'processing', metadata: deep }), 400, 'invalid_request');
  });

  it('two named streams beside the answer, each retried from offset 0, folded on their own; kept after the end', async () => {
    const job = await createExternal();
    const sent = [
      { status: 'processing', stream: 'log', delta: 'frame 1\n', offset: 0 },
      { status: 'processing', stream: 'errors', delta: 'row 3: bad date\n', offset: 0 },
      { status: 'processing', delta: 'Encoding…', offset: 0 },
      { status: 'processing', stream: 'log', delta: 'frame 2\n', offset: 8 },
      // The log's attempt failed: its retry starts the log again; the errors go on.
      { status: 'processing', stream: 'log', delta: 'retry: frame 1\n', offset: 0 },
      { status: 'processing', stream: 'errors', delta: 'row 9: empty\n', offset: 16 },
      { status: 'processing', stream: 'errors', delta: 'row 3: bad date\n', offset: 0 }, // the errors' retry
      { status: 'processing', stream: 'log', delta: '🐝 frame 2\n', offset: 15 },
      { status: 'processing', delta: ' done', offset: 9 },
    ];
    for (const event of sent) expect((await job.publish(event)).status).toBe(201);
    // An offset past the stream it names (though within the log's length): 409, each stream on its own.
    expectError(await job.publish({ status: 'processing', stream: 'errors', delta: 'x', offset: 17 }), 409, 'bad_offset');
    const running = await job.snapshot();
    const streams = { log: 'retry: frame 1\n🐝 frame 2\n', errors: 'row 3: bad date\n' };
    expect(running.streams).toEqual(streams);
    expect(running.partial).toBe('Encoding… done');
    const history = SseClient.open(`${b}/v1/jobs/${job.jobId}/events`);
    await history.waitFor((client) => client.events.length === sent.length + 1);
    history.close();
    const folded = foldAll(history.events.map((event) => event.json));
    expect([folded.streams, folded.partial]).toEqual([streams, 'Encoding… done']);
    // A typed stream names a stream's event `delta`, as the answer's.
    const typed = SseClient.open(`${a}/v1/jobs/${job.jobId}/events?typed=1`);
    await typed.waitFor((client) => client.events.length === 3);
    typed.close();
    expect(typed.events.slice(0, 3).map((event) => event.name)).toEqual(['progress', 'delta', 'delta']);

    expect((await job.publish({ status: 'done', result: 'encoded' })).status).toBe(201);
    const ended = await job.snapshot();
    expect(ended.streams).toEqual(streams);
    expect(ended.partial).toBeUndefined();
    // Kept as long as the snapshot: the job's TTL.
    for (const name of Object.keys(streams)) {
      expect(await system.redis.ttl(keys.streamText(job.jobId, name))).toBeGreaterThan(0);
    }
  });

  it('each stream is capped at MAX_STREAM_CHARS (the answer at MAX_TEXT_CHARS); a ninth name is refused; bad names are a 400', async () => {
    const job = await createExternal();
    expect((await job.publish({ status: 'processing', stream: 'log', delta: 'x'.repeat(40), offset: 0 })).status).toBe(201);
    expectError(await job.publish({ status: 'processing', stream: 'log', delta: 'y', offset: 40 }), 413, 'payload_too_large');
    expectError(await job.publish({ status: 'processing', stream: 'other', delta: 'z'.repeat(41), offset: 0 }), 413, 'payload_too_large');
    expect((await job.publish({ status: 'processing', delta: 'a'.repeat(41), offset: 0 })).status).toBe(201);

    for (let i = 2; i <= 8; i += 1)
      expect((await job.publish({ status: 'processing', stream: `s-${i}`, delta: 'x', offset: 0 })).status).toBe(201);
    const before = await job.snapshot();
    const length = await system.redis.xlen(keys.events(job.jobId));
    expectError(await job.publish({ status: 'processing', stream: 'ninth', delta: 'x', offset: 0 }), 409, 'too_many_streams');
    expect(await system.redis.xlen(keys.events(job.jobId))).toBe(length);
    expect(await job.snapshot()).toEqual(before);
    expect(Object.keys(before.streams as object)).toHaveLength(8);
    // The eight go on.
    expect((await job.publish({ status: 'processing', stream: 's-8', delta: 'y', offset: 1 })).status).toBe(201);

    for (const name of ['Log', 'a b', '', 'x'.repeat(33), 'é', 'log\n', 'a.b', '{tag}']) {
      expectError(await job.publish({ status: 'processing', stream: name, delta: 'x', offset: 0 }), 400, 'invalid_request');
    }
    // A stream needs a delta.
    expectError(await job.publish({ status: 'processing', stream: 'log' }), 400, 'invalid_request');
    expect(Object.keys((await job.snapshot()).streams as object)).toHaveLength(8);
  });

  it('a resync carries the merged metadata and the streams; the client folds both into each WatchedEvent', async () => {
    const job = await createExternal({ phase: 'start' });
    await job.publish({ status: 'processing', progress: 30, metadata: { phase: 'encode', frames: 10 } });
    await job.publish({ status: 'processing', stream: 'log', delta: 'one\n', offset: 0 });
    await job.publish({ status: 'processing', stream: 'thoughts', delta: 'hmm', offset: 0, metadata: { frames: null } });
    const state = await job.snapshot();

    // A cursor ahead of the job's last event (a failover lost events): the stream opens with a resync.
    const resync = SseClient.open(`${b}/v1/jobs/${job.jobId}/events`, { 'Last-Event-ID': '99999999999999-0' });
    await resync.waitFor((client) => client.events.length === 1);
    resync.close();
    const opening = JSON.parse(resync.events[0]!.data) as Record<string, Json>;
    expect(opening).toMatchObject({ resync: true, metadata: { phase: 'encode' }, streams: { log: 'one\n', thoughts: 'hmm' } });
    expect(opening.metadata).toEqual(state.metadata);

    const client = createClient({ baseUrl: a });
    const seen: WatchedEvent[] = [];
    const watching = (async () => {
      for await (const watched of client.watch(job.jobId)) seen.push(watched);
    })();
    await expect.poll(() => seen.length).toBe(4);
    expect(seen.map((watched) => watched.metadata)).toEqual([
      { phase: 'start' },
      { phase: 'encode', frames: 10 },
      { phase: 'encode', frames: 10 },
      { phase: 'encode' },
    ]);
    expect(seen.map((watched) => watched.streams)).toEqual([{}, {}, { log: 'one\n' }, { log: 'one\n', thoughts: 'hmm' }]);
    await job.publish({ status: 'done', result: 'ok', metadata: { phase: 'done' } });
    await watching;
    expect(seen.at(-1)!.metadata).toEqual({ phase: 'done' });
    expect(seen.at(-1)!.streams).toEqual({ log: 'one\n', thoughts: 'hmm' });

    // Resumed through the client from a cursor ahead of the job: the resync's state replaces the fold.
    const again: WatchedEvent[] = [];
    const job2 = await createExternal({ phase: 'x' });
    await job2.publish({ status: 'processing', stream: 'log', delta: 'kept', offset: 0, metadata: { n: 1 } });
    const resumed = (async () => {
      for await (const watched of client.watch(job2.jobId, { lastEventId: '99999999999999-0' })) again.push(watched);
    })();
    await expect.poll(() => again.length).toBe(1);
    expect(again[0]).toMatchObject({ resync: true, metadata: { phase: 'x', n: 1 }, streams: { log: 'kept' } });
    await job2.publish({ status: 'done', result: 'ok' });
    await resumed;
  });
});

describe('a producer’s texts together stay within MAX_JOB_STREAM_BYTES, whatever STREAM_MAXLEN trimmed', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectTestRedis('run-data-texts');
  });
  afterAll(() => redis.disconnect());

  it('counts the answer and every named stream: past the bound, 413 (texts), though the Stream holds little', async () => {
    const limits = { maxTextChars: 10_000, maxStreamChars: 10_000, maxEventBytes: 10_000, maxStreamBytes: 4_000, ratePerSecond: 0 };
    const publisher = new EventPublisher(redis, { ttlSeconds: 60, streamMaxLen: 10_000, producerLimits: limits });
    const jobId = newId();
    await publisher.create(jobId, { status: 'queued', progress: 0, message: 'Waiting' }, { kind: 'external' });
    const write = (stream: string | undefined, delta: string, offset: number) =>
      publisher.publishAsProducer(jobId, { status: 'processing', message: '', delta, offset, ...(stream ? { stream } : {}) });
    expect((await write(undefined, 'a'.repeat(1_200), 0)).outcome).toBe('published');
    expect((await write('log', 'b'.repeat(1_200), 0)).outcome).toBe('published');
    // As STREAM_MAXLEN would in time: the Stream now holds one small event, the texts 2,400 bytes.
    await redis.xtrim(keys.events(jobId), 'MAXLEN', 0);
    await publisher.publish(jobId, { status: 'processing', progress: 1, message: 'trimmed' });
    expect(await write('errors', 'c'.repeat(1_200), 0)).toEqual({ outcome: 'published', id: expect.any(String) });
    // 3,600 + 500 > 4,000: refused, the Stream's own bound far off.
    expect(await write('thoughts', 'd'.repeat(500), 0)).toEqual({ outcome: 'too_large', bound: 'texts' });
    expect(await write(undefined, 'e'.repeat(500), 1_200)).toEqual({ outcome: 'too_large', bound: 'texts' });
    // Rewriting a text shorter makes room.
    expect((await write('log', 'short', 0)).outcome).toBe('published');
    expect((await write('thoughts', 'd'.repeat(500), 0)).outcome).toBe('published');
    expect((await new EventReader(redis).snapshot(jobId))?.streams).toEqual({
      log: 'short',
      errors: 'c'.repeat(1_200),
      thoughts: 'd'.repeat(500),
    });
  });
});

describe('a producer pays for the metadata merge it makes Redis do (PUBLISH_RATE_PER_JOB)', () => {
  let system: TestSystem;
  let api: string;
  beforeAll(async () => {
    system = await startSystem({ replicas: 1, workers: 0, env: { PUBLISH_RATE_PER_JOB: '50' } });
    api = system.apis[0]!.url;
  });
  afterAll(() => system.close());

  it('a patch deep into 14 KB of metadata, 30 levels down, is charged as the walk it costs: the next publish waits (429)', async () => {
    // The merge scans each level's text again: about 30 × 14 KB here, charged one publish per 256 characters.
    let nested: Record<string, Json> = { leaf: 'x'.repeat(14_000) };
    const path: string[] = [];
    for (let i = 0; i < 29; i += 1) {
      nested = { [`level${i}`]: nested };
      path.unshift(`level${i}`);
    }
    const created = await request(`${api}/v1/jobs`, { json: { kind: 'external', metadata: nested } });
    expect(created.status).toBe(202);
    const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };
    const publish = (event: unknown) => request(`${api}/v1/jobs/${jobId}/events`, { json: event, headers: bearer(publishToken) });
    // A shallow patch costs nothing more: a burst of them goes through.
    for (let i = 0; i < 3; i += 1) expect((await publish({ status: 'processing', metadata: { step: i } })).status).toBe(201);
    let deep: Record<string, Json> = { mark: 1 };
    for (const key of [...path].reverse()) deep = { [key]: deep };
    expect((await publish({ status: 'processing', metadata: deep })).status).toBe(201);
    expectError(await publish({ status: 'processing', progress: 1 }), 429, 'rate_limited');
  });
});

describe('a kind writes run data: ctx.metadata and ctx.stream, through the publish script', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = connectTestRedis('run-data-kind');
  });
  afterAll(() => redis.disconnect());

  it('its patches and its stream reach the snapshot, and fold from its events; a patch past the bound rejects, nothing published', async () => {
    const publisher = new EventPublisher(redis, { ttlSeconds: 60, streamMaxLen: 1_000, maxMetadataBytes: 200 });
    const jobId = newId();
    await publisher.create(jobId, { status: 'queued', progress: 0, message: 'Waiting' }, { kind: 'summarize' });
    let refused: unknown;
    const kind = defineJobKind({
      name: 'import',
      input: z.strictObject({ rows: z.number() }),
      async run({ rows }, ctx) {
        await ctx.step({ stage: 'importing', message: 'Importing', progress: 10 });
        const errors = ctx.stream('errors');
        for (let row = 1; row <= rows; row += 1) {
          if (row % 2 === 0) errors.write(`row ${row}: bad date\n`);
          await ctx.metadata({ rows: { done: row, total: rows } });
        }
        const before = await redis.xlen(keys.events(jobId));
        refused = await ctx.metadata({ blob: 'x'.repeat(300) }).catch((error: unknown) => error);
        expect(await redis.xlen(keys.events(jobId))).toBe(before);
        await ctx.metadata({ rows: { total: null }, finished: true });
        return `${rows} rows`;
      },
    });
    const cancellation = new CancellationWatcher(redis, redis);
    expect(
      await runJob(
        { jobId, kind, input: { rows: 4 }, attempt: 1, attempts: 1, logger: createLogger('run-data', 'silent') },
        { publisher, cancellation, flushMs: 0 },
      ),
    ).toBe('done');
    expect(String(refused)).toContain('metadata_too_large');

    const snapshot = (await new EventReader(redis).snapshot(jobId))!;
    expect(snapshot.metadata).toEqual({ rows: { done: 4 }, finished: true });
    expect(snapshot.streams).toEqual({ errors: 'row 2: bad date\nrow 4: bad date\n' });
    const events = ((await redis.xrange(keys.events(jobId), '-', '+')) as [string, string[]][]).map(
      ([, fields]) => JSON.parse(fields[fields.indexOf('d') + 1]!) as JobEvent,
    );
    expect(events.reduce<Record<string, Json>>((metadata, event) => foldMetadata(metadata, event), {})).toEqual(snapshot.metadata);
    expect(events.reduce<Readonly<Record<string, string>>>((streams, event) => foldStreams(streams, event), {})).toEqual(snapshot.streams);
    expect(events.at(-1)).toMatchObject({ status: 'done', result: '4 rows' });
  });
});
