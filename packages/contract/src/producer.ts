import * as z from 'zod';
import { jobErrorSchema } from './event.ts';
import { metadataObjectSchema, streamNameSchema } from './run-data.ts';
import { jobResultSchema, MAX_RESULT_DEPTH, nestsDeeperThan } from './json.ts';

/** The longest message a producer may publish. */
const MAX_MESSAGE = 1000;

/**
 * POST /v1/jobs/{id}/events: one event from a job's producer. Herald adds `jobId` and `ts`;
 * `result` only with `done`, `error` with `error` (and only then), `delta` with `offset`.
 * Without `progress` the job's stays where it is (`done`: 100); without `message`, it is empty.
 * `result` is any JSON value: a string at most MAX_TEXT_CHARS long, any other value at most
 * MAX_TEXT_CHARS characters of JSON as Herald writes it (no white space) and MAX_RESULT_DEPTH
 * levels deep; `delta` at most MAX_DELTA_CHARS (the server's settings). `metadata` is a JSON
 * Merge Patch to the job's metadata (any status); `stream` names the stream a `delta` goes to
 * (without it, the answer).
 */
export const producerEventSchema = (maxResultChars: number, maxDeltaChars: number) =>
  z
    .strictObject({
      status: z.enum(['processing', 'done', 'error', 'cancelled']),
      progress: z.number().int().min(0).max(100).optional(),
      message: z.string().max(MAX_MESSAGE).default(''),
      stage: z.string().min(1).max(100).optional(),
      result: jobResultSchema.superRefine((result, ctx) => boundResult(result, maxResultChars, ctx)).optional(),
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

/**
 * A result's bounds: a string's length, or another value's depth (first, without recursion:
 * nestsDeeperThan) and then its JSON's length, both in UTF-16 code units as MAX_TEXT_CHARS counts
 * them. Too long is `too_big` (the API's 413, payload_too_large); too deep is a 400, as metadata's.
 */
function boundResult(result: unknown, maxChars: number, ctx: z.RefinementCtx): void {
  const tooBig = (message: string): void =>
    ctx.addIssue({ code: 'too_big', origin: 'string', maximum: maxChars, inclusive: true, input: result, message });
  if (typeof result === 'string') {
    if (result.length > maxChars) tooBig(`result must be at most MAX_TEXT_CHARS (${maxChars}) characters`);
  } else if (nestsDeeperThan(result, MAX_RESULT_DEPTH)) {
    ctx.addIssue({ code: 'custom', message: `result must nest at most ${MAX_RESULT_DEPTH} levels deep` });
  } else if (JSON.stringify(result).length > maxChars) {
    tooBig(`result's JSON must be at most MAX_TEXT_CHARS (${maxChars}) characters`);
  }
}
