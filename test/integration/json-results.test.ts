import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '@herald/shared';
import { createClient, type WatchedEvent } from '../../packages/client/src/index.ts';
import { expectError, expectExactHistory } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

// A job's `result` is any JSON value (docs/api.md, "The event"): published by a producer, it
// reaches the stream, the snapshot, a resync, @herald/client and the webhook as that value —
// a string still a string — with its numbers' digits exactly as the producer wrote them.

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const MAX_TEXT_CHARS = 2000;

/** Each result as its producer writes it: the JSON text that must come back byte for byte. */
const RESULTS: readonly (readonly [name: string, json: string])[] = [
  ['an object', '{"output":"out.mp4","bytes":1048576,"streams":[{"codec":"h264","fps":29.97}],"ok":true,"note":null}'],
  ['an array', '[1,"two",[3],{"four":4},null,false]'],
  ['a big integer', '12345678901234567890123'],
  ['a float with its trailing zero', '1.10'],
  ['a small float', '-2.5e-7'],
  ['true', 'true'],
  ['false', 'false'],
  ['null', 'null'],
  ['zero', '0'],
  ['a string', '"12 rows imported"'],
  ['a string that holds JSON', '"{\\"rows\\":12}"'],
  ['unicode', '{"città":"Zürich ✓ 🐝","emoji":["😀"],"":"empty key"}'],
  ['nested exact numbers', '{"id":9007199254740993,"sum":0.30000000000000004,"deep":[[[1e400,-0,1E3]]]}'],
];

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('results of any JSON type, from a producer to every reader', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    system = await startSystem({
      workers: 1,
      env: {
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        WEBHOOK_BACKOFF_MS: '150',
        MAX_TEXT_CHARS: String(MAX_TEXT_CHARS),
        PUBLISH_RATE_PER_JOB: '0',
      },
    });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
    receiver = await WebhookReceiver.start(SECRET);
  });
  afterAll(async () => {
    await receiver.close();
    await system.close();
  });

  /** An external job with a webhook, and a way to publish a raw JSON body into it (from replica a). */
  async function external(): Promise<{ jobId: string; publishToken: string; publish: (body: string) => ReturnType<typeof request> }> {
    const created = await request(`${a}/v1/jobs`, { json: { kind: 'external', callbackUrl: receiver.url('/hooks/results') } });
    expect(created.status).toBe(202);
    const { jobId, publishToken } = created.body as { jobId: string; publishToken: string };
    return {
      jobId,
      publishToken,
      publish: (body) =>
        request(`${a}/v1/jobs/${jobId}/events`, { body, headers: { 'content-type': 'application/json', ...bearer(publishToken) } }),
    };
  }

  /** The raw text of an answer (no JSON parse in between, which would round numbers). */
  const rawText = async (url: string, headers: Record<string, string> = {}) => (await fetch(url, { headers })).text();

  it.each(RESULTS)('%s: the stream, the snapshot, a resync, the client and the webhook carry it exactly', async (_name, json) => {
    const value: unknown = JSON.parse(json);
    const job = await external();
    const watcher = SseClient.open(`${b}/v1/jobs/${job.jobId}/events`);
    await watcher.waitFor((client) => client.events.length === 1);
    // The answer text written as it goes, then a `done` whose result is the JSON value.
    expect((await job.publish('{"status":"processing","progress":40,"delta":"Reading rows…","offset":0}')).status).toBe(201);
    const done = await job.publish(`{"status":"done","message":"Imported","result":${json}}`);
    expect(done.status).toBe(201);
    await watcher.finished();
    await expectExactHistory(system.redis, job.jobId, watcher.events);

    // The stream: the event's JSON holds the result as sent, byte for byte.
    const last = watcher.events.at(-1)!;
    expect(last.data).toContain(`"result":${json},`);
    expect(last.json).toMatchObject({ status: 'done', progress: 100 });
    expect(last.json.result).toEqual(value);

    // The snapshot, read on the other replica: the same bytes, the same value.
    const snapshotText = await rawText(`${b}/v1/jobs/${job.jobId}`);
    expect(snapshotText).toContain(`"result":${json},`);
    expect(JSON.parse(snapshotText)).toMatchObject({ status: 'done', result: value });
    expect(JSON.parse(snapshotText)).not.toHaveProperty('partial');

    // @herald/client, watching live: the value as JSON.parse reads it, and `partial` the answer
    // text the deltas wrote, whatever the result.
    const seen: WatchedEvent[] = [];
    for await (const item of createClient({ baseUrl: b }).watch(job.jobId)) seen.push(item);
    expect(seen.map((item) => item.id)).toEqual(watcher.events.map((event) => event.id));
    expect(seen.at(-1)!.event.result).toEqual(value);
    expect(seen.at(-1)!.partial).toBe('Reading rows…');
    expect((await createClient({ baseUrl: a }).job(job.jobId)).result).toEqual(value);

    // A resync (the history after the cursor trimmed away) carries it as the snapshot does; the
    // text is not kept past the end, so the client's `partial` is then the result if it is a
    // string, else empty.
    const queuedId = watcher.events[0]!.id!;
    await system.redis.xtrim(keys.events(job.jobId), 'MAXLEN', 1);
    const resynced = SseClient.open(`${a}/v1/jobs/${job.jobId}/events`, { 'Last-Event-ID': queuedId });
    await resynced.finished();
    expect(resynced.events).toHaveLength(1);
    expect(resynced.events[0]!.data).toContain(`"result":${json},`);
    expect(resynced.events[0]!.json).toMatchObject({ resync: true, status: 'done', result: value });
    const afterEnd = [];
    for await (const item of createClient({ baseUrl: b }).watch(job.jobId, { lastEventId: queuedId })) afterEnd.push(item);
    expect(afterEnd.map((item) => [item.resync, item.event.result, item.partial])).toEqual([
      [true, value, typeof value === 'string' ? value : ''],
    ]);

    // The webhook: the body carries the result as JSON (not a JSON-encoded string), byte for byte.
    await expect.poll(() => receiver.acknowledged(job.jobId).length, { timeout: 10_000 }).toBe(1);
    const hook = receiver.acknowledged(job.jobId)[0]!;
    expect(hook.signed).toBe(true);
    expect(hook.body).toContain(`"result":${json},`);
    expect(hook.json).toMatchObject({ type: 'job.done', data: { jobId: job.jobId, status: 'done', result: value } });
  });

  it('answers a publish after the end with the job’s state, its result’s digits as sent', async () => {
    const job = await external();
    const body = '{"status":"done","result":{"n":100000000000000000001}}';
    const first = await job.publish(body);
    expect(first.status).toBe(201);
    const again = await job.publish(body);
    expectError(again, 409, 'already_finished');
    expect(again.body.error.details).toMatchObject({ status: 'done' });
    // The raw answer (request() above parsed it, rounding the number).
    const raw = await fetch(`${a}/v1/jobs/${job.jobId}/events`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...bearer(job.publishToken) },
    });
    expect(raw.status).toBe(409);
    expect(await raw.text()).toContain('"result":{"n":100000000000000000001}');
  });

  it('refuses a result whose JSON is over MAX_TEXT_CHARS (413) or nests too deep (400), publishing nothing', async () => {
    const job = await external();
    const watcher = SseClient.open(`${b}/v1/jobs/${job.jobId}/events`);
    await watcher.waitFor((client) => client.events.length === 1);
    const stream = () => system.redis.xrange(keys.events(job.jobId), '-', '+');
    const before = { snapshot: await rawText(`${a}/v1/jobs/${job.jobId}`), stream: await stream() };

    // {"rows":["xxx…"]}, `chars` characters of JSON in all; one more than the bound is refused…
    const rowsOf = (chars: number) => `{"rows":["${'x'.repeat(chars - '{"rows":[""]}'.length)}"]}`;
    expect(rowsOf(MAX_TEXT_CHARS + 1)).toHaveLength(MAX_TEXT_CHARS + 1);
    const tooLarge = await job.publish(`{"status":"done","result":${rowsOf(MAX_TEXT_CHARS + 1)}}`);
    expectError(tooLarge, 413, 'payload_too_large');
    expect(tooLarge.body.error.message).toContain(`MAX_TEXT_CHARS (${MAX_TEXT_CHARS})`);
    // …and so is a string one character over, as before.
    expectError(await job.publish(`{"status":"done","result":"${'y'.repeat(MAX_TEXT_CHARS + 1)}"}`), 413, 'payload_too_large');
    // 33 levels of arrays: one past MAX_RESULT_DEPTH (32), as for metadata.
    const tooDeep = await job.publish(`{"status":"done","result":${'['.repeat(33)}${']'.repeat(33)}}`);
    expectError(tooDeep, 400, 'invalid_request');
    expect(tooDeep.body.error.details).toEqual([{ path: 'result', message: 'result must nest at most 32 levels deep' }]);
    // A non-JSON result cannot be sent at all, and a result needs `done`, whatever its type.
    expectError(await job.publish('{"status":"processing","result":{"rows":1}}'), 400, 'invalid_request');

    expect({ snapshot: await rawText(`${a}/v1/jobs/${job.jobId}`), stream: await stream() }).toEqual(before);
    expect(watcher.events).toHaveLength(1);

    // At both bounds exactly, it is taken: 32 levels (the object, then 31 of arrays), MAX_TEXT_CHARS characters.
    const nested = `${'['.repeat(31)}${']'.repeat(31)}`;
    const frame = `{"a":${nested},"rows":[""]}`;
    const atBounds = `{"a":${nested},"rows":["${'x'.repeat(MAX_TEXT_CHARS - frame.length)}"]}`;
    expect(atBounds).toHaveLength(MAX_TEXT_CHARS);
    expect((await job.publish(`{"status":"done","result":${atBounds}}`)).status).toBe(201);
    await watcher.finished();
    expect(watcher.events.at(-1)!.data).toContain(`"result":${atBounds},`);
  });

  it('bounds a result by its JSON as sent: 1E20 counts 4 characters, not the 21 of a double’s 100000000000000000000', async () => {
    const job = await external();
    const values = `[${Array.from({ length: 399 }, () => '1E20').join(',')}]`;
    expect(values.length).toBeLessThanOrEqual(MAX_TEXT_CHARS);
    expect(JSON.stringify(JSON.parse(values)).length).toBeGreaterThan(4 * MAX_TEXT_CHARS);
    expect((await job.publish(`{"status":"done","result":${values}}`)).status).toBe(201);
    expect(await rawText(`${b}/v1/jobs/${job.jobId}`)).toContain(`"result":${values},`);
  });

  it('keeps Herald’s own summarize kind answering a string', async () => {
    const submitted = await request(`${a}/v1/jobs`, { json: { text: 'Bees make honey. Bees live in hives. Honey is sweet.' } });
    expect(submitted.status).toBe(202);
    const watcher = SseClient.open(`${b}/v1/jobs/${submitted.body.jobId}/events`);
    await watcher.finished();
    const done = watcher.events.at(-1)!.json;
    expect(done.status).toBe('done');
    expect(typeof done.result).toBe('string');
  });
});
