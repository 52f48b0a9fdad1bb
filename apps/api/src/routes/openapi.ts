import { readFileSync } from 'node:fs';
import { Router } from 'express';
import { z } from 'zod';
import {
  batchEventSchema,
  batchRequestSchema,
  batchSnapshotSchema,
  batchSubmittedSchema,
  errorBodySchema,
  issuedWatchTokenSchema,
  jobEventSchema,
  jobSnapshotSchema,
  jobReadSchema,
  MAX_CREDENTIAL_CHARS,
  jobCancelledSchema,
  jobListSchema,
  JOB_STATUSES,
  kindListSchema,
  registeredSubmitSchema,
  DEFAULT_LIST_LIMIT,
  MAX_LIST_CURSOR_CHARS,
  MAX_LIST_LIMIT,
  producerEventSchema,
  publishedSchema,
  submitRequestSchema,
  submittedSchema,
} from '@herald/contract';
import type { RegisteredKind } from '@herald/shared';
import { redisCall } from '../http/deadline.ts';

/** What the document states about this deployment: the limits its schemas carry. */
export interface OpenApiSettings {
  readonly maxTextChars: number;
  readonly maxDeltaChars: number;
  readonly maxBatchItems: number;
  /** Whether /admin is served (ADMIN_API_KEYS names a key). */
  readonly admin: boolean;
  /** The registered kinds now (docs/api.md, "Kinds"): each one's input schema goes into the document. */
  readonly listKinds?: () => Promise<readonly RegisteredKind[]>;
}

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

type Json = Record<string, unknown>;
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

/**
 * zod 4's JSON Schema (2020-12, which OpenAPI 3.1 uses) of each named schema, as components: the
 * `$schema` line dropped, and any `$defs` zod made (a schema used twice) hoisted beside it as
 * `<Name>__<def>`, its references rewritten to match.
 */
function components(named: Readonly<Record<string, readonly [z.ZodType, 'input' | 'output']>>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [name, [schema, io]] of Object.entries(named)) {
    const {
      $schema: _dialect,
      $defs: defs = {},
      ...rest
    } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json & { $defs?: Json };
    const relink = (value: unknown): Json =>
      JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', `"#/components/schemas/${name}__`)) as Json;
    out[name] = relink(rest);
    for (const [def, body] of Object.entries(defs)) out[`${name}__${def}`] = relink(body);
  }
  return out;
}

const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const error = (description: string, extraHeaders: Json = {}): Json => ({
  description,
  headers: { 'X-Request-Id': { $ref: '#/components/headers/XRequestId' }, ...extraHeaders },
  content: { 'application/json': { schema: ref('Error') } },
});
const errors = (...statuses: number[]): Json =>
  Object.fromEntries(statuses.map((status) => [String(status), { $ref: `#/components/responses/E${status}` }]));
const param = (name: string): Json => ({ $ref: `#/components/parameters/${name}` });

/** A Server-Sent Events response: its frames' `data` are these schemas' JSON (OpenAPI 3.1 has no item schema; `x-event-data` says it). */
const eventStream = (description: string, data: Json): Json => ({
  description,
  headers: { 'X-Request-Id': { $ref: '#/components/headers/XRequestId' } },
  content: {
    'text/event-stream': {
      schema: {
        type: 'string',
        description: 'Frames of `id:` and `data:` lines (an `event:` line with `typed=1`), `retry:` first, `:` heartbeats',
      },
      'x-event-data': data,
    },
  },
});
const streamParams = [param('LastEventIdHeader'), param('LastEventIdQuery'), param('Token'), param('Typed')];
const streamErrors = errors(400, 401, 403, 404, 429, 503);
const noMore = { description: 'The cursor is at or past the end: nothing more will come (an EventSource stops)' };

/**
 * The OpenAPI 3.1 document of Herald's HTTP API (docs/api.md is the prose), generated from the
 * contract's zod schemas with this deployment's limits. Built once at start-up.
 */
export function openApiDocument(settings: OpenApiSettings): Json {
  const schemas = components({
    SubmitRequest: [submitRequestSchema(settings.maxTextChars), 'input'],
    RegisteredSubmitRequest: [registeredSubmitSchema(), 'input'],
    KindList: [kindListSchema, 'output'],
    BatchRequest: [batchRequestSchema(settings.maxTextChars, settings.maxBatchItems), 'input'],
    ProducerEvent: [producerEventSchema(settings.maxTextChars, settings.maxDeltaChars), 'input'],
    JobEvent: [jobEventSchema, 'output'],
    JobSnapshot: [jobSnapshotSchema, 'output'],
    JobRead: [jobReadSchema, 'output'],
    JobCancelled: [jobCancelledSchema, 'output'],
    JobList: [jobListSchema, 'output'],
    BatchEvent: [batchEventSchema, 'output'],
    BatchSnapshot: [batchSnapshotSchema, 'output'],
    Submitted: [submittedSchema, 'output'],
    BatchSubmitted: [batchSubmittedSchema, 'output'],
    Published: [publishedSchema, 'output'],
    IssuedWatchToken: [issuedWatchTokenSchema, 'output'],
    Error: [errorBodySchema, 'output'],
  });
  const submittedHeaders = {
    Location: { $ref: '#/components/headers/Location' },
    'X-Request-Id': { $ref: '#/components/headers/XRequestId' },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Herald',
      version: VERSION,
      summary: 'Watch long-running jobs live over Server-Sent Events, from any API replica.',
      description: 'The contract in prose, every rule and status: docs/api.md.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    security: [{}, { bearer: [] }, { watchToken: [] }],
    paths: {
      '/v1/jobs': {
        post: {
          operationId: 'submitJob',
          summary: 'Submit a job',
          security: [{}, { bearer: [] }],
          parameters: [param('IdempotencyKey')],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { anyOf: [ref('SubmitRequest'), ref('RegisteredSubmitRequest')] } } },
          },
          responses: {
            '202': { ...json(ref('Submitted'), 'Queued'), headers: submittedHeaders },
            '200': json(ref('Submitted'), 'An Idempotency-Key replay: the job made before'),
            ...errors(400, 401, 409, 413, 415, 429, 503),
          },
        },
        get: {
          operationId: 'listJobs',
          summary: "The caller's jobs, newest first (an admin key's: everyone's), a page at a time",
          description:
            'A page examines at most 500 entries, so it may hold fewer jobs than `limit` (even none) and still give a `nextCursor`: follow it until it is null. docs/api.md, "GET /v1/jobs".',
          security: [{}, { bearer: [] }],
          parameters: [
            {
              name: 'tag',
              in: 'query',
              schema: { type: 'string', pattern: '^[A-Za-z0-9:_.-]{1,64}$' },
              description: 'Only jobs with this tag',
            },
            {
              name: 'status',
              in: 'query',
              schema: { type: 'string', enum: [...JOB_STATUSES] },
              description: 'Only jobs that stand at this status',
            },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT },
              description: 'Jobs per page at most',
            },
            {
              name: 'cursor',
              in: 'query',
              schema: { type: 'string', maxLength: MAX_LIST_CURSOR_CHARS },
              description: "A page's `nextCursor`, as it came (opaque), with the same filters",
            },
          ],
          responses: { '200': json(ref('JobList'), 'A page of jobs'), ...errors(400, 401, 429, 503) },
        },
      },
      '/v1/kinds': {
        get: {
          operationId: 'listKinds',
          summary: "The kinds a job may be: the built-in ones and those running workers registered, each with its input's JSON Schema",
          security: [{}, { bearer: [] }],
          responses: { '200': json(ref('KindList'), 'The kinds, by name'), ...errors(401, 429, 503) },
        },
      },
      '/v1/jobs/{id}': {
        parameters: [param('JobId')],
        get: {
          operationId: 'getJob',
          summary: "The job's latest state",
          parameters: [param('Token')],
          responses: {
            '200': json(ref('JobRead'), 'The snapshot (with a fresh watchToken when read with an API key)'),
            ...errors(400, 401, 403, 404, 429, 503),
          },
        },
        delete: {
          operationId: 'cancelJob',
          summary: 'Cancel the job',
          security: [{}, { bearer: [] }],
          responses: { '202': json(ref('JobCancelled'), 'Cancel asked; the snapshot, with its links'), ...errors(401, 404, 409, 503) },
        },
      },
      '/v1/jobs/{id}/events': {
        parameters: [param('JobId')],
        get: {
          operationId: 'watchJob',
          summary: "The job's events: history after the cursor, then live, ending after the terminal one",
          parameters: streamParams,
          responses: { '200': eventStream('The stream', ref('JobEvent')), '204': noMore, ...streamErrors },
        },
        post: {
          operationId: 'publishEvent',
          summary: "An external job's producer publishes one event",
          security: [{ bearer: [] }],
          parameters: [param('IdempotencyKey')],
          requestBody: { required: true, content: { 'application/json': { schema: ref('ProducerEvent') } } },
          responses: {
            '201': json(ref('Published'), 'Published'),
            '200': json(ref('Published'), 'A repeated Idempotency-Key: the event published before'),
            ...errors(400, 401, 403, 404, 409, 413, 415, 503),
          },
        },
      },
      '/v1/jobs/{id}/watch-tokens': {
        parameters: [param('JobId')],
        post: watchTokenOperation('issueJobWatchToken', 'job'),
      },
      '/v1/batches': {
        post: {
          operationId: 'submitBatch',
          summary: 'Submit many texts as one batch',
          security: [{}, { bearer: [] }],
          parameters: [param('IdempotencyKey')],
          requestBody: { required: true, content: { 'application/json': { schema: ref('BatchRequest') } } },
          responses: {
            '202': { ...json(ref('BatchSubmitted'), 'Queued, every job'), headers: submittedHeaders },
            '200': json(ref('BatchSubmitted'), 'An Idempotency-Key replay: the batch made before'),
            ...errors(400, 401, 409, 413, 415, 429, 503),
          },
        },
      },
      '/v1/batches/{id}': {
        parameters: [param('BatchId')],
        get: {
          operationId: 'getBatch',
          summary: "The batch's state, counts and each job",
          parameters: [param('Token')],
          responses: { '200': json(ref('BatchSnapshot'), 'The batch'), ...errors(400, 401, 403, 404, 429, 503) },
        },
        delete: {
          operationId: 'cancelBatch',
          summary: 'Cancel every job of the batch that has not ended',
          security: [{}, { bearer: [] }],
          responses: { '202': json(ref('BatchSnapshot'), 'Cancel asked'), ...errors(401, 404, 409, 503) },
        },
      },
      '/v1/batches/{id}/events': {
        parameters: [param('BatchId')],
        get: {
          operationId: 'watchBatch',
          summary: "Every event of the batch's jobs and its own overall ones, ending after its end",
          parameters: streamParams,
          responses: { '200': eventStream('The stream', { oneOf: [ref('JobEvent'), ref('BatchEvent')] }), '204': noMore, ...streamErrors },
        },
      },
      '/v1/batches/{id}/watch-tokens': {
        parameters: [param('BatchId')],
        post: watchTokenOperation('issueBatchWatchToken', 'batch'),
      },
      '/v1/events': {
        get: {
          operationId: 'watchJobs',
          summary:
            'Several jobs on one connection (`jobs`; the `id:` is a composite cursor, one event id per job), or every job of a tag (`tag`; never ends: docs/api.md, "A tag\'s stream"). Exactly one of the two.',
          parameters: [
            {
              name: 'jobs',
              in: 'query',
              required: false,
              description: 'Job ids, comma-separated (at most MAX_JOBS_PER_STREAM)',
              schema: { type: 'string' },
            },
            {
              name: 'tag',
              in: 'query',
              required: false,
              description:
                "One tag: every event of every job carrying it that the caller may see, from the jobs not ended when the stream opens ('created' names a job's first event on a typed stream)",
              schema: { type: 'string', pattern: '^[A-Za-z0-9:_.-]{1,64}$' },
            },
            ...streamParams,
          ],
          responses: { '200': eventStream('The stream', ref('JobEvent')), '204': noMore, ...streamErrors },
        },
      },
      '/healthz': {
        get: { operationId: 'health', summary: 'Liveness', security: [{}], responses: { '200': json({ type: 'object' }, 'Alive') } },
      },
      '/readyz': {
        get: {
          operationId: 'ready',
          summary: 'Readiness: Redis answers and the replica is not draining',
          security: [{}],
          responses: { '200': json({ type: 'object' }, 'Ready'), '503': json({ type: 'object' }, 'Not ready') },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (docs/metrics.md)',
          security: [{}],
          responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openApi',
          summary: 'This document',
          security: [{}],
          responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1') },
        },
      },
      '/api-docs': page('This document, rendered for people (RapiDoc)'),
      '/assets/rapidoc-min.js': script('RapiDoc, which renders /api-docs'),
      '/': page('The demo page'),
      '/jobs/{id}': { parameters: [param('JobId')], ...page('The demo page, watching a job (a shareable link)') },
      '/batches/{id}': { parameters: [param('BatchId')], ...page('The demo page, watching a batch') },
      '/assets/page.js': script("The page's script"),
      '/assets/batch-view.js': script("The page's batch view"),
      '/assets/herald-client.js': script(
        '@herald/client for browsers, bundled ahead of time from its sources: what the page talks to Herald with',
      ),
      ...(settings.admin
        ? {
            '/admin': {
              get: {
                operationId: 'admin',
                summary: "The queues' view (bull-board, read-only); its UI and its own API are served below /admin",
                security: [{ bearer: [] }, { adminBasic: [] }],
                responses: {
                  '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } },
                  ...errors(401, 403),
                },
              },
            },
          }
        : {}),
    },
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key; or, to watch, a watch token; to publish, a publish token' },
        watchToken: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: "A job's or batch's watch token (what an EventSource can send)",
        },
      },
      parameters: {
        JobId: {
          name: 'id',
          in: 'path',
          required: true,
          schema: { type: 'string' },
          description: "A job id (a batch's job: `<batchId>~<n>`)",
        },
        BatchId: { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
        Token: {
          name: 'token',
          in: 'query',
          schema: { type: 'string', maxLength: MAX_CREDENTIAL_CHARS },
          description: 'A watch token or watch JWT (auth on)',
        },
        Typed: {
          name: 'typed',
          in: 'query',
          schema: { type: 'string', enum: ['1', '0', 'true', 'false'] },
          description: 'Named events (`event:` lines)',
        },
        LastEventIdHeader: {
          name: 'Last-Event-ID',
          in: 'header',
          schema: { type: 'string' },
          description: 'Resume after this event (wins over the query)',
        },
        LastEventIdQuery: { name: 'lastEventId', in: 'query', schema: { type: 'string' }, description: 'Resume after this event' },
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          schema: { type: 'string' },
          description: 'A retry with the same key and body gets the first answer',
        },
      },
      headers: {
        XRequestId: { description: "The request's id, in the logs as reqId", schema: { type: 'string' } },
        Location: { description: 'Where the new resource is', schema: { type: 'string' } },
        RetryAfter: { description: 'Seconds to wait before trying again', schema: { type: 'integer' } },
      },
      responses: {
        E400: error('Invalid request: a body, cursor, token or parameter that is not as documented'),
        E401: error('A credential is needed, or this one is not valid'),
        E403: error('A token for another job, or of the wrong kind'),
        E404: error('No such job or batch (or another key’s), or no such route'),
        E409: error(
          'Conflict: an Idempotency-Key reused with another body; already finished; a producer breaking a rule (a ninth named stream among them)',
        ),
        E413: error(
          "Too large: a text, a body, or a batch larger than a limit it could never fit; a producer's event past a bound; a metadata patch past MAX_METADATA_BYTES (metadata_too_large)",
        ),
        E415: error('Not application/json, or compressed (a Content-Encoding other than identity)'),
        E429: error('Over a limit (no Retry-After past MAX_ACTIVE_JOBS_PER_KEY)', {
          'Retry-After': { $ref: '#/components/headers/RetryAfter' },
        }),
        E503: error('Redis unavailable, draining, or full', { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } }),
      },
    },
  };
}

/** POST …/watch-tokens: an API key's fresh watch token for a job or a batch, without its snapshot. */
function watchTokenOperation(operationId: string, what: 'job' | 'batch'): Json {
  return {
    operationId,
    summary: `A fresh watch token for the ${what}${what === 'batch' ? ' and each of its jobs' : ''}, and when it expires`,
    security: [{}, { bearer: [] }],
    responses: {
      '201': {
        ...json(ref('IssuedWatchToken'), 'Issued (Cache-Control: no-store)'),
        headers: { 'X-Request-Id': { $ref: '#/components/headers/XRequestId' } },
      },
      ...errors(401, 404, 429, 503),
    },
  };
}

function page(summary: string): Json {
  return {
    get: {
      summary,
      security: [{}],
      responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  };
}

function script(summary: string): Json {
  return {
    get: {
      summary,
      security: [{}],
      responses: { '200': { description: 'JavaScript', content: { 'text/javascript': { schema: { type: 'string' } } } } },
    },
  };
}

/**
 * The document with the registered kinds in it: each kind's input schema as `KindInput_<name>`,
 * and POST /v1/jobs's body as any of the built-in kinds' or each registered kind's
 * (`{"kind": <name>, "input": KindInput_<name>, …}`).
 */
export function withKinds(document: Json, kinds: readonly RegisteredKind[]): Json {
  const registered = kinds.filter((kind) => !kind.builtIn && kind.inputSchema !== null);
  if (registered.length === 0) return document;
  const components = document.components as { schemas: Json };
  const schemas: Json = { ...components.schemas };
  for (const kind of registered) schemas[`KindInput_${kind.name}`] = kind.inputSchema;
  const bodies = registered.map((kind) => ({
    allOf: [
      ref('RegisteredSubmitRequest'),
      { type: 'object', properties: { kind: { const: kind.name }, input: ref(`KindInput_${kind.name}`) }, required: ['kind', 'input'] },
    ],
  }));
  const paths = document.paths as Record<string, Json>;
  const jobs = paths['/v1/jobs'] as { post: Json };
  const post = {
    ...jobs.post,
    requestBody: { required: true, content: { 'application/json': { schema: { anyOf: [ref('SubmitRequest'), ...bodies] } } } },
  };
  return { ...document, components: { ...components, schemas }, paths: { ...paths, '/v1/jobs': { ...jobs, post } } };
}

/** How long the document's registered kinds are reused before the registry is read again. */
const KINDS_FRESH_MS = 5_000;

/**
 * GET /openapi.json: the document, built once, with the registered kinds (rebuilt only when they
 * change). Open to anyone, so the registry (up to MAX_KINDS × 64 KiB of schemas) is read at most
 * once per KINDS_FRESH_MS per replica, whatever the rate of requests, and one read serves every
 * request that comes while it runs.
 */
export function openApiRoutes(settings: OpenApiSettings): Router {
  const document = openApiDocument(settings);
  let cached = { kinds: '', body: JSON.stringify(document) };
  let reading: Promise<string> | null = null;
  let readAt = Number.NEGATIVE_INFINITY;
  const refresh = async (): Promise<string> => {
    const kinds = settings.listKinds ? await redisCall(settings.listKinds()) : [];
    const key = JSON.stringify(kinds.map(({ name, inputSchema }) => [name, inputSchema]));
    if (key !== cached.kinds) cached = { kinds: key, body: JSON.stringify(withKinds(document, kinds)) };
    readAt = Date.now();
    return cached.body;
  };
  const router = Router();
  router.get('/openapi.json', async (_req, res) => {
    if (Date.now() - readAt >= KINDS_FRESH_MS) reading ??= refresh().finally(() => (reading = null));
    res.type('application/json').send(reading ? await reading : cached.body);
  });
  return router;
}
