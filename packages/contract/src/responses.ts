import * as z from 'zod';
import type { BatchEvent, BatchSnapshot } from './batch.ts';
import { JOB_STATUSES, jobErrorSchema } from './event.ts';
import { jobResultSchema } from './json.ts';
import type { JobList, JobSnapshot, WebhookState } from './snapshot.ts';
import { JOB_KINDS } from './submit.ts';
import { MAX_TAGS_PER_JOB } from './tags.ts';

// What the API answers, as zod schemas: the OpenAPI document (GET /openapi.json) is generated
// from these and from the request schemas, so it cannot say something the types do not. The
// types the server and the page use (JobSnapshot, BatchSnapshot, …) are checked against them at
// compile time below: a field added to one and not the other fails the type check.

const eventId = z
  .string()
  .regex(/^\d+-\d+$/)
  .describe('An event id, `<ms>-<seq>`: compare numerically, field by field');
const epochMs = z.number().int().describe('Epoch milliseconds');

export const webhookStateSchema = z.strictObject({
  state: z.enum(['pending', 'delivered', 'failed', 'refused', 'gone']),
  attempts: z.number().int().nonnegative(),
  lastStatus: z.number().int().optional().describe("The receiver's last HTTP status, if it answered from a globally routable address"),
});

export const jobSnapshotSchema = z
  .object({
    jobId: z.string(),
    kind: z
      .string()
      .optional()
      .describe(`${JOB_KINDS.join(', ')}, or a registered kind (docs/api.md, "Kinds")`),
    title: z.string().optional().describe("An external job's, as submitted"),
    metadata: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("The job's metadata: as submitted, with every event's patch merged in (RFC 7396 JSON Merge Patch)"),
    tags: z.array(z.string()).max(MAX_TAGS_PER_JOB).optional().describe("As submitted (a batch's job: the batch's, then its item's)"),
    webhook: webhookStateSchema.optional().describe('When the job was submitted with a callbackUrl'),
    status: z.enum(JOB_STATUSES),
    progress: z.number().int().min(0).max(100),
    message: z.string(),
    stage: z.string().optional(),
    result: jobResultSchema.optional(),
    error: jobErrorSchema.optional(),
    partial: z.string().optional().describe('The result as written so far, while the job writes it'),
    streams: z
      .record(z.string(), z.string())
      .optional()
      .describe("The job's named streams, name → text (each the fold of its deltas); kept after the job ends"),
    createdAt: epochMs,
    updatedAt: epochMs,
    lastEventId: eventId.describe("The id of the job's latest event: a cursor for its stream"),
  })
  .describe("GET /v1/jobs/{id}: the job's latest state");

/** GET /v1/jobs/{id}: the snapshot, with a fresh watch token for a reader holding an API key. */
export const jobReadSchema = jobSnapshotSchema
  .extend({
    watchToken: z.string().optional().describe('Read with an API key (auth on): a fresh watch token for the job, for a link or a stream'),
  })
  .describe("GET /v1/jobs/{id}: the job's latest state");

const links = z.object({ self: z.string(), events: z.string(), publish: z.string().optional() });

/** DELETE /v1/jobs/{id}: the snapshot as the cancel left it, with the job's links. */
export const jobCancelledSchema = jobSnapshotSchema
  .extend({ links })
  .describe('DELETE /v1/jobs/{id}: cancel asked; the cancelled event follows on the stream');

export type JobRead = z.infer<typeof jobReadSchema>;
export type JobCancelled = z.infer<typeof jobCancelledSchema>;

const batchStatus = z.enum(['queued', 'processing', 'done', 'cancelled']);
const batchCounts = z.strictObject(
  Object.fromEntries(JOB_STATUSES.map((status) => [status, z.number().int().nonnegative()])) as Record<
    (typeof JOB_STATUSES)[number],
    z.ZodNumber
  >,
);

export const batchEventSchema = z
  .strictObject({
    batchId: z.string(),
    status: batchStatus,
    progress: z.number().int().min(0).max(100).describe("The mean of its jobs' progress, an ended job counting 100; never goes back"),
    counts: batchCounts,
    ts: epochMs,
  })
  .describe("A batch's own event in its stream: its overall figure moved, or its status changed");

export const batchSnapshotSchema = z
  .strictObject({
    batchId: z.string(),
    status: batchStatus,
    progress: z.number().int().min(0).max(100),
    counts: batchCounts,
    jobs: z.array(z.strictObject({ jobId: z.string(), status: z.enum(JOB_STATUSES), progress: z.number().int().min(0).max(100) })),
    webhook: webhookStateSchema.optional(),
    tags: z.array(z.string()).max(MAX_TAGS_PER_JOB).optional().describe("The batch's own tags, as submitted"),
    createdAt: epochMs,
    updatedAt: epochMs,
    lastEventId: eventId,
  })
  .describe('GET /v1/batches/{id}');

/** GET /v1/jobs: a page of the caller's jobs, newest first. */
export const jobListSchema = z
  .strictObject({
    jobs: z.array(jobSnapshotSchema.omit({ partial: true })).describe("Newest first: each job's snapshot, without `partial`"),
    nextCursor: z.string().nullable().describe('Gives the next page (`?cursor=`, with the same filters); null when there is none. Opaque'),
  })
  .describe("GET /v1/jobs: the caller's jobs (an admin key's: everyone's)");

/** GET /v1/kinds (docs/api.md, "Kinds"). */
export const kindListSchema = z
  .strictObject({
    kinds: z.array(
      z.strictObject({
        name: z.string(),
        builtIn: z.boolean().describe("Herald's own (summarize, external): never expires"),
        inputSchema: z
          .record(z.string(), z.unknown())
          .nullable()
          .describe("The JSON Schema a job's `input` must fit; null for a built-in kind, whose body is its own"),
        expiresAt: z.number().int().nullable().describe('When it is gone unless a worker renews it (epoch ms); null: never'),
      }),
    ),
  })
  .describe('GET /v1/kinds: the kinds a job may be, by name');

export const submittedSchema = z
  .strictObject({
    jobId: z.string(),
    status: z.enum(JOB_STATUSES),
    watchToken: z.string().optional().describe('With auth on: watches this job (`?token=`)'),
    publishToken: z.string().optional().describe("An external job's: its producer publishes with it"),
    links,
  })
  .describe('POST /v1/jobs: 202, or 200 for an Idempotency-Key replay');

export const batchSubmittedSchema = z
  .strictObject({
    batchId: z.string(),
    status: batchStatus,
    jobIds: z.array(z.string()).describe('In the order of `items`: `<batchId>~<n>`'),
    watchToken: z.string().optional().describe('With auth on: watches the batch and each of its jobs'),
    links,
  })
  .describe('POST /v1/batches: 202, or 200 for an Idempotency-Key replay');

/** POST /v1/jobs/{id}/watch-tokens, POST /v1/batches/{id}/watch-tokens: a fresh watch token. */
export const issuedWatchTokenSchema = z
  .strictObject({
    watchToken: z.string().describe("Watches the job (a batch's: the batch and each of its jobs), as `?token=` or a bearer"),
    expiresAt: epochMs.describe('When the token stops opening streams (epoch milliseconds; a stream opened before runs to its end)'),
  })
  .describe('POST /v1/jobs/{id}/watch-tokens, POST /v1/batches/{id}/watch-tokens: 201');

export type IssuedWatchToken = z.infer<typeof issuedWatchTokenSchema>;
export type KindList = z.infer<typeof kindListSchema>;

export const publishedSchema = z
  .strictObject({ eventId })
  .describe('POST /v1/jobs/{id}/events: 201, or 200 for a repeated Idempotency-Key');

export const errorBodySchema = z
  .strictObject({
    error: z.strictObject({
      code: z.string().describe('For programs (docs/api.md, "Error codes")'),
      message: z.string().describe('For people'),
      details: z.unknown().optional().describe('The fields that were wrong ({path, message}), or for a 409 the job as it stands'),
    }),
  })
  .describe('Every error: never a stack, never HTML');

// The types Herald's code uses, held to the schemas (mutually assignable).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const RESPONSE_TYPES_MATCH: [
  Same<z.infer<typeof jobSnapshotSchema>, JobSnapshot>,
  Same<z.infer<typeof webhookStateSchema>, WebhookState>,
  Same<z.infer<typeof batchSnapshotSchema>, BatchSnapshot>,
  Same<z.infer<typeof batchEventSchema>, BatchEvent>,
  Same<z.infer<typeof jobListSchema>, JobList>,
] = [true, true, true, true, true];
