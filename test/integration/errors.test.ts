import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// Every error row of docs/api.md, with its JSON body: {"error": {"code", "message", "details"?}}.
let system: TestSystem;
let api: string;

beforeAll(async () => {
  system = await startSystem({ replicas: 1, env: { MAX_TEXT_CHARS: '1000' } });
  api = system.apis[0]!.url;
});
afterAll(() => system.close());

function expectError(response: { status: number; body: any; headers: Headers }, status: number, code: string) {
  expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(typeof response.body.error.message).toBe('string');
  expect(response.body.error.message.length).toBeGreaterThan(0);
  expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.ts:\d+|node_modules/);
}

const post = (body: string, contentType = 'application/json') =>
  request(`${api}/v1/jobs`, { method: 'POST', body, headers: { 'content-type': contentType } });

describe('400: invalid body or parameters', () => {
  it.each([
    ['malformed JSON', '{"text": '],
    ['a JSON string', '"just text"'],
    ['no text', '{}'],
    ['text not a string', '{"text": 42}'],
    ['empty text', '{"text": ""}'],
    ['whitespace-only text', '{"text": " \\n\\t "}'],
    ['punctuation-only text', '{"text": "...!!!???"}'],
    ['an unknown field', '{"text": "hello.", "priority": 1}'],
    ['an unknown option', '{"text": "hello.", "options": {"language": "en"}}'],
    ['maxSentences 0', '{"text": "hello.", "options": {"maxSentences": 0}}'],
    ['maxSentences 21', '{"text": "hello.", "options": {"maxSentences": 21}}'],
    ['maxSentences 1.5', '{"text": "hello.", "options": {"maxSentences": 1.5}}'],
    ['maxSentences as a string', '{"text": "hello.", "options": {"maxSentences": "3"}}'],
  ])('rejects %s', async (_name, body) => {
    expectError(await post(body), 400, 'invalid_request');
  });

  it('says an empty body is empty, whatever its content type claims', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'text/plain']) {
      const response = await post('', type);
      expectError(response, 400, 'invalid_request');
      expect(response.body.error.message).toBe('The request body is empty: send the job as JSON, e.g. {"text": "…"}');
    }
  });

  it('says why a text with nothing to summarize is refused', async () => {
    const response = await post('{"text": "...!!!???"}');
    expectError(response, 400, 'invalid_request');
    expect(response.body.error.details).toEqual([
      { path: 'text', message: 'text has nothing to summarize: it needs at least one letter or digit' },
    ]);
  });

  it('names the offending field in details', async () => {
    const response = await post('{"text": "hello.", "options": {"maxSentences": 99}}');
    expectError(response, 400, 'invalid_request');
    expect(response.body.error.details).toEqual([{ path: 'options.maxSentences', message: expect.any(String) }]);
  });

  it('rejects a cursor that is not an event id', async () => {
    const { body } = await submit(api, BEES);
    expectError(await request(`${api}/v1/jobs/${body.jobId}/events?lastEventId=banana`), 400, 'invalid_request');
    expectError(await request(`${api}/v1/jobs/${body.jobId}/events`, { headers: { 'Last-Event-ID': '12-x' } }), 400, 'invalid_request');
  });

  it('accepts the limits themselves', async () => {
    expect((await post(JSON.stringify({ text: 'a'.repeat(1000), options: { maxSentences: 20 } }))).status).toBe(202);
    expect((await post(JSON.stringify({ text: 'One.', options: { maxSentences: 1 } }))).status).toBe(202);
  });
});

describe('404: unknown job or route', () => {
  const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
  it.each([
    ['GET', `/v1/jobs/${unknown}`],
    ['GET', `/v1/jobs/${unknown}/events`],
    ['DELETE', `/v1/jobs/${unknown}`],
    ['GET', '/v1/jobs/not-even-an-id'],
    ['GET', '/v1/jobs/../../etc/passwd/events'],
    ['GET', '/v2/nothing'],
  ])('%s %s', async (method, path) => {
    expectError(await request(`${api}${path}`, { method }), 404, 'not_found');
  });
});

describe('409: conflicts', () => {
  it('refuses to cancel a finished job', async () => {
    const { body } = await submit(api, BEES);
    await SseClient.open(`${api}/v1/jobs/${body.jobId}/events`).finished();
    expectError(await request(`${api}/v1/jobs/${body.jobId}`, { method: 'DELETE' }), 409, 'already_finished');
  });

  it('returns the same job for a repeated Idempotency-Key, and 409 for another body', async () => {
    const headers = { 'Idempotency-Key': `key-${Date.now()}` };
    const first = await submit(api, BEES, undefined, headers);
    const again = await submit(api, BEES, undefined, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body.jobId).toBe(first.body.jobId);
    expect(again.body.links).toEqual(first.body.links);
    expectError(await submit(api, `${BEES} And more.`, undefined, headers), 409, 'idempotency_conflict');
    const other = await submit(api, BEES, undefined, { 'Idempotency-Key': `other-${Date.now()}` });
    expect(other.status).toBe(202);
    expect(other.body.jobId).not.toBe(first.body.jobId);
  });
});

describe('413: too large', () => {
  it('rejects text over MAX_TEXT_CHARS', async () => {
    expectError(await post(JSON.stringify({ text: 'a'.repeat(1001) })), 413, 'payload_too_large');
  });

  it('rejects a body over the byte limit before parsing it, saying what the limit is', async () => {
    const response = await post(JSON.stringify({ text: 'a'.repeat(2_000_000) }));
    expectError(response, 413, 'payload_too_large');
    // MAX_TEXT_CHARS (1000 here) × 6 + 64 KiB: room for any text within the limit, JSON-escaped.
    expect(response.body.error.message).toBe(`The request body is too large: at most ${1000 * 6 + 64 * 1024} bytes`);
  });
});

describe('415: not JSON', () => {
  it.each([['text/plain'], ['application/x-www-form-urlencoded'], ['']])('rejects content type %j', async (type) => {
    expectError(await post('{"text":"hello."}', type), 415, 'unsupported_media_type');
  });

  it.each([['gzip'], ['deflate'], ['br']])('rejects a body compressed with %s: Herald inflates nothing', async (encoding) => {
    const compress = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync }[encoding]!;
    const response = await fetch(`${api}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': encoding },
      body: compress('{"text":"hello."}'),
    });
    const answer = { status: response.status, headers: response.headers, body: (await response.json()) as any };
    expectError(answer, 415, 'unsupported_media_type');
    expect(answer.body.error.message).toMatch(/uncompressed/);
  });
});
