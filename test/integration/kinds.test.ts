import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bullConnection, KindRegistrationError, KindRegistry, kindQueueName, queuePrefix, releaseBullConnection } from '@herald/shared';
import { createClient } from '../../packages/client/src/index.ts';
import { expectError } from '../support/assertions.ts';
import { request } from '../support/http.ts';
import { keysMatching } from '../support/redis-target.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';

// The registry of kinds (docs/api.md, "Kinds"): what a worker registers (here as
// @herald/worker's startWorker does, through KindRegistry), what POST /v1/jobs then takes and
// refuses, GET /v1/kinds, and /openapi.json. Run on one Redis and on the Cluster (ON_CLUSTER).

const KEY = 'key-kinds-alpha-0123456789';
const bearer = { Authorization: `Bearer ${KEY}` };
const resizeInput = z.strictObject({
  width: z.number().int().min(1),
  height: z.number().int().min(1),
  format: z.enum(['png', 'jpeg']).optional(),
});

describe('registered kinds', () => {
  let system: TestSystem;
  let a: string;
  let b: string;
  let registry: KindRegistry;
  beforeAll(async () => {
    system = await startSystem({ workers: 0, env: { API_KEYS: KEY, WATCH_TOKEN_SECRET: 'a-watch-token-secret-of-forty-characters!' } });
    [a, b] = system.apis.map((api) => api.url) as [string, string];
    registry = new KindRegistry(system.redis);
    await registry.register([{ name: 'resize', inputSchema: z.toJSONSchema(resizeInput) as Record<string, unknown> }], 60);
  });
  afterAll(() => system.close());

  const submit = (base: string, body: unknown) => request(`${base}/v1/jobs`, { json: body, headers: bearer });

  it('lists the built-in kinds, which never expire, and each registered kind with its input schema', async () => {
    const answer = await request(`${b}/v1/kinds`, { headers: bearer });
    expect(answer.status).toBe(200);
    const kinds = answer.body.kinds as { name: string; builtIn: boolean; inputSchema: unknown; expiresAt: number | null }[];
    expect(kinds.map((kind) => kind.name)).toEqual(['external', 'resize', 'summarize']);
    expect(kinds.filter((kind) => kind.builtIn).every((kind) => kind.expiresAt === null && kind.inputSchema === null)).toBe(true);
    const resize = kinds.find((kind) => kind.name === 'resize')!;
    expect(resize.builtIn).toBe(false);
    expect(resize.inputSchema).toEqual(z.toJSONSchema(resizeInput));
    expect(resize.expiresAt).toBeGreaterThan(Date.now());
    expectError(await request(`${b}/v1/kinds`), 401, 'unauthorized');
    // @herald/client reads the same, and submits a registered kind's job.
    const client = createClient({ baseUrl: a, apiKey: KEY });
    expect((await client.kinds()).kinds.map((kind) => kind.name)).toEqual(['external', 'resize', 'summarize']);
    expect((await client.submit({ kind: 'resize', input: { width: 2, height: 3 } })).status).toBe('queued');
  });

  it('takes a registered kind’s job whose input fits, and queues the input on the kind’s own queue', async () => {
    const input = { width: 640, height: 480, format: 'png' };
    const created = await submit(a, { kind: 'resize', input, tags: ['img'], metadata: { source: 'upload' } });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const { jobId } = created.body as { jobId: string };
    const connection = bullConnection(system.config, { name: 'test:kinds' });
    const queue = new Queue(kindQueueName('resize'), { connection, prefix: queuePrefix });
    try {
      const queued = await queue.getJob(jobId);
      expect(queued?.name).toBe('resize');
      expect(queued?.data).toEqual(input);
    } finally {
      await queue.close();
      releaseBullConnection(connection);
    }
    const snapshot = await request(`${b}/v1/jobs/${jobId}`, { headers: bearer });
    expect(snapshot.body).toMatchObject({ jobId, kind: 'resize', status: 'queued', tags: ['img'], metadata: { source: 'upload' } });
    const stream = SseClient.open(`${b}/v1/jobs/${jobId}/events`, bearer);
    await stream.waitFor((client) => client.events.length === 1);
    stream.close();
    expect(stream.events[0]!.json).toMatchObject({ jobId, status: 'queued', message: 'Waiting for a worker' });
  });

  it('cancels a waiting job of a registered kind by taking it off its kind’s queue', async () => {
    const created = await submit(a, { kind: 'resize', input: { width: 1, height: 1 } });
    const { jobId } = created.body as { jobId: string };
    const cancelled = await request(`${b}/v1/jobs/${jobId}`, { method: 'DELETE', headers: bearer });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(202);
    expect(cancelled.body.status).toBe('cancelled');
    const connection = bullConnection(system.config, { name: 'test:kinds' });
    const queue = new Queue(kindQueueName('resize'), { connection, prefix: queuePrefix });
    try {
      expect(await queue.getJob(jobId)).toBeUndefined();
    } finally {
      await queue.close();
      releaseBullConnection(connection);
    }
  });

  it('refuses an input that does not fit, naming each place, and creates nothing', async () => {
    const jobsNow = async () => (await keysMatching(system.redis, 'herald:{*}:snapshot')).length;
    const before = await jobsNow();
    const refused = await submit(a, { kind: 'resize', input: { width: 'wide', height: 0, extra: true } });
    expectError(refused, 400, 'invalid_request');
    const paths = (refused.body.error.details as { path: string }[]).map((detail) => detail.path).sort();
    expect(paths).toEqual(['input', 'input.height', 'input.width']);
    for (const input of [null, [], 'text', { width: 1 }]) expectError(await submit(a, { kind: 'resize', input }), 400, 'invalid_request');
    // Deeper than 32 levels is refused before any schema walks it.
    let deep: unknown = 1;
    for (let i = 0; i < 40; i += 1) deep = { deep };
    expectError(await submit(a, { kind: 'resize', input: deep }), 400, 'invalid_request');
    // No input, a field no kind takes.
    expectError(await submit(a, { kind: 'resize' }), 400, 'invalid_request');
    expectError(await submit(a, { kind: 'resize', input: { width: 1, height: 1 }, text: 'x' }), 400, 'invalid_request');
    expect(await jobsNow()).toBe(before);
  });

  it('refuses a kind no worker registered with unknown_kind, listing the registered ones', async () => {
    const refused = await submit(a, { kind: 'transcode', input: {} });
    expectError(refused, 400, 'unknown_kind');
    expect(refused.body.error.message).toContain('resize');
    expect(refused.body.error.message).toContain('summarize');
    expectError(await submit(a, { kind: 'Not A Kind', input: {} }), 400, 'invalid_request');
    // The built-in kinds keep their bodies: `input` is for registered kinds.
    expectError(await submit(a, { kind: 'summarize', input: { text: 'Bees.' } }), 400, 'invalid_request');
  });

  it('forgets a kind KIND_TTL_SECONDS after its last renewal, and never lets a worker take a built-in name', async () => {
    await registry.register([{ name: 'blink', inputSchema: { type: 'object' } }], 1);
    expect((await submit(a, { kind: 'blink', input: {} })).status).toBe(202);
    await sleep(1_200);
    expectError(await submit(a, { kind: 'blink', input: {} }), 400, 'unknown_kind');
    await expect(registry.register([{ name: 'summarize', inputSchema: {} }], 60)).rejects.toBeInstanceOf(KindRegistrationError);
    await expect(registry.register([{ name: 'Bad Name', inputSchema: {} }], 60)).rejects.toBeInstanceOf(KindRegistrationError);
  });

  it('puts each registered kind’s input schema into /openapi.json, as POST /v1/jobs’s body', async () => {
    const document = (await request(`${a}/openapi.json`)).body;
    expect(document.components.schemas.KindInput_resize).toEqual(z.toJSONSchema(resizeInput));
    const body = document.paths['/v1/jobs'].post.requestBody.content['application/json'].schema;
    expect(JSON.stringify(body)).toContain('#/components/schemas/KindInput_resize');
    expect(document.paths['/v1/kinds'].get.operationId).toBe('listKinds');
  });
});
