import { validate, compileErrors } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type AppDeps } from '../../apps/api/src/routes/app.ts';
import { STREAM_PATHS } from '../../apps/api/src/stream/events-route.ts';
import { request, submit } from '../support/http.ts';
import { SseClient } from '../support/sse-client.ts';
import { startSystem, type TestSystem } from '../support/system.ts';
import { BEES } from '../support/texts.ts';

// GET /openapi.json: a valid OpenAPI 3.1 document, generated from the contract's zod schemas,
// naming every route the server answers — and each route it names is answered.
let system: TestSystem;
let api: string;
let doc: { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };

beforeAll(async () => {
  system = await startSystem({ replicas: 1, env: { MAX_TEXT_CHARS: '5000', MAX_BATCH_ITEMS: '7' } });
  api = system.apis[0]!.url;
  const answer = await request(`${api}/openapi.json`);
  expect(answer.status).toBe(200);
  doc = answer.body;
});
afterAll(() => system.close());

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const operations = (): string[] =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => method in item).map((method) => `${method.toUpperCase()} ${path}`),
  );

/** Every route of the Express app (nested routers walked), with `:id` written `{id}`. */
function expressRoutes(): string[] {
  const noop = (_req: unknown, _res: unknown, next: () => void): void => next();
  const app = createApp({
    maxTextChars: 1,
    maxDeltaChars: 1,
    maxBatchItems: 1,
    edge: noop,
    admin: null,
  } as unknown as AppDeps) as unknown as {
    router: { stack: Layer[] };
  };
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const walk = (stack: Layer[]): string[] =>
    stack.flatMap((layer) =>
      layer.route
        ? Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`)
        : walk(layer.handle?.stack ?? []),
    );
  return walk(app.router.stack);
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('carries the contract’s schemas with this deployment’s limits, the error shape and the event', () => {
    const schemas = doc.components.schemas as Record<string, any>;
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining(['SubmitRequest', 'BatchRequest', 'JobEvent', 'JobSnapshot', 'BatchSnapshot', 'Error']),
    );
    expect(JSON.stringify(schemas.SubmitRequest)).toContain('"maxLength":5000');
    expect(JSON.stringify(schemas.BatchRequest)).toContain('"maxItems":7');
    expect(schemas.JobEvent.properties.status.enum).toEqual(['queued', 'processing', 'done', 'error', 'cancelled']);
    const watch = (doc.paths['/v1/jobs/{id}/events'] as any).get;
    expect(watch.responses['200'].content['text/event-stream']['x-event-data']).toEqual({ $ref: '#/components/schemas/JobEvent' });
    // What a read with a key and a cancel add to the snapshot is described, so typed clients keep it.
    const job = doc.paths['/v1/jobs/{id}'] as any;
    expect(job.get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/JobRead' });
    expect(schemas.JobRead.properties.watchToken.type).toBe('string');
    expect(job.delete.responses['202'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/JobCancelled' });
    expect(schemas.JobCancelled.required).toContain('links');
    const names = JSON.stringify(doc);
    for (const header of ['Last-Event-ID', 'Idempotency-Key', 'Retry-After']) expect(names).toContain(header);
  });

  it('names every route the server answers', () => {
    const documented = new Set(operations());
    const answered = [...expressRoutes(), ...STREAM_PATHS.map((path) => `GET ${path}`)];
    expect(answered.filter((route) => !documented.has(route))).toEqual([]);
  });

  it('names only routes the server answers', async () => {
    const { jobId } = (await submit(api, BEES)).body as { jobId: string };
    await SseClient.open(`${api}/v1/jobs/${jobId}/events`).finished();
    const { batchId } = (await request(`${api}/v1/batches`, { json: { items: [{ text: BEES }] } })).body as { batchId: string };
    await SseClient.open(`${api}/v1/batches/${batchId}/events`).finished();
    for (const operation of operations()) {
      const [method, path] = operation.split(' ') as [string, string];
      const url = `${api}${path.replace('{id}', path.startsWith('/v1/batches') || path.startsWith('/batches') ? batchId : jobId)}${path === '/v1/events' ? `?jobs=${jobId}` : ''}`;
      const response = await fetch(url, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      const body = await response.text();
      expect(response.status, operation).toBeLessThan(500);
      expect(body, operation).not.toContain('No such route');
    }
  });
});
