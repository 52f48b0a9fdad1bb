import * as z from 'zod';
import { jobErrorSchema } from './event.ts';
import { metadataObjectSchema, streamNameSchema } from './run-data.ts';

/** The longest message a producer may publish. */
const MAX_MESSAGE = 1000;

/**
 * POST /v1/jobs/{id}/events: one event from a job's producer. Herald adds `jobId` and `ts`;
 * `result` only with `done`, `error` with `error` (and only then), `delta` with `offset`.
 * Without `progress` the job's stays where it is (`done`: 100); without `message`, it is empty.
 * `result` is at most MAX_TEXT_CHARS long, `delta` MAX_DELTA_CHARS (the server's settings).
 * `metadata` is a JSON Merge Patch to the job's metadata (any status); `stream` names the stream
 * a `delta` goes to (without it, the answer).
 */
export const producerEventSchema = (maxResultChars: number, maxDeltaChars: number) =>
  z
    .strictObject({
      status: z.enum(['processing', 'done', 'error', 'cancelled']),
      progress: z.number().int().min(0).max(100).optional(),
      message: z.string().max(MAX_MESSAGE).default(''),
      stage: z.string().min(1).max(100).optional(),
      result: z.string().max(maxResultChars, `result must be at most MAX_TEXT_CHARS (${maxResultChars}) characters`).optional(),
      error: jobErrorSchema.extend({ code: z.string().min(1).max(100), message: z.string().max(MAX_MESSAGE) }).optional(),
      delta: z.string().max(maxDeltaChars, `delta must be at most MAX_DELTA_CHARS (${maxDeltaChars}) characters`).optional(),
      offset: z.number().int().nonnegative().optional(),
      metadata: metadataObjectSchema()
        .describe("A JSON Merge Patch (RFC 7396) to the job's metadata; the merged object at most MAX_METADATA_BYTES of JSON")
        .optional(),
      stream: streamNameSchema.optional().describe('The named stream delta goes to (at most 8 a job); without it, the answer'),
    })
    .superRefine((event, ctx) => {
      if (event.result !== undefined && event.status !== 'done')
        ctx.addIssue({ code: 'custom', path: ['result'], message: 'result goes with status done only' });
      if ((event.error === undefined) !== (event.status !== 'error')) {
        ctx.addIssue({ code: 'custom', path: ['error'], message: 'error goes with status error, and status error needs one' });
      }
      if ((event.delta === undefined) !== (event.offset === undefined))
        ctx.addIssue({ code: 'custom', path: ['offset'], message: 'delta and offset come together' });
      if (event.stream !== undefined && event.delta === undefined)
        ctx.addIssue({ code: 'custom', path: ['stream'], message: 'stream goes with delta and offset' });
      if (event.delta !== undefined && event.status !== 'processing')
        ctx.addIssue({ code: 'custom', path: ['delta'], message: 'delta goes with status processing' });
    });

export type ProducerEvent = z.infer<ReturnType<typeof producerEventSchema>>;
