import * as z from 'zod';
import { streamNameSchema } from './run-data.ts';
import { jobResultSchema } from './json.ts';

export const JOB_STATUSES = ['queued', 'processing', 'done', 'error', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const TERMINAL: ReadonlySet<JobStatus> = new Set<JobStatus>(['done', 'error', 'cancelled']);
export const isTerminal = (status: string): boolean => TERMINAL.has(status as JobStatus);

export const jobErrorSchema = z.strictObject({
  code: z.string().min(1),
  message: z.string(),
});
export type JobError = z.infer<typeof jobErrorSchema>;

/** One progress event, exactly as it travels in `data:` lines (docs/api.md, "The event"). */
export const jobEventSchema = z
  .strictObject({
    jobId: z.string().min(1),
    /** The batch the job belongs to, when it was submitted in one (docs/api.md, "Batches"). */
    batchId: z.string().min(1).optional(),
    status: z.enum(JOB_STATUSES),
    progress: z.number().int().min(0).max(100),
    message: z.string(),
    stage: z.string().min(1).optional(),
    /** Only on `done`: any JSON value (a string stays a string). */
    result: jobResultSchema.optional(),
    error: jobErrorSchema.optional(),
    /** A JSON Merge Patch (RFC 7396) to the job's metadata, as its publisher sent it (see foldMetadata). */
    metadata: z.record(z.string(), z.unknown()).optional(),
    /** The named stream `delta` goes to; without it, the answer (see foldStreams). */
    stream: streamNameSchema.optional(),
    /** New text of the result being written (or of the named `stream`); it goes at `offset` (see foldPartial). */
    delta: z.string().optional(),
    /** Where `delta` goes: the length, in UTF-16 code units, of the text before it. */
    offset: z.number().int().nonnegative().optional(),
    ts: z.number().int().nonnegative(),
  })
  .refine((event) => (event.delta === undefined) === (event.offset === undefined), {
    message: 'delta and offset come together',
    path: ['offset'],
  })
  .refine((event) => event.stream === undefined || event.delta !== undefined, { message: 'stream goes with delta', path: ['stream'] });
export type JobEvent = z.infer<typeof jobEventSchema>;

/**
 * The result as written so far, after one more event: `partial.slice(0, offset) + delta`. A
 * retried attempt starts again at offset 0, so folding every event of a job, in order, always
 * leaves exactly the text of the attempt that is writing (and, at the end, its `done` result).
 */
export function foldPartial(partial: string, event: Pick<JobEvent, 'delta' | 'offset' | 'stream'>): string {
  if (event.delta === undefined || event.offset === undefined || event.stream !== undefined) return partial;
  return partial.slice(0, event.offset) + event.delta;
}

/**
 * A job's named streams after one more event, folded as the answer is (foldPartial), each on its
 * own: `streams[name].slice(0, offset) + delta`. The object given is not changed.
 */
export function foldStreams(
  streams: Readonly<Record<string, string>>,
  event: Pick<JobEvent, 'delta' | 'offset' | 'stream'>,
): Readonly<Record<string, string>> {
  if (event.stream === undefined || event.delta === undefined || event.offset === undefined) return streams;
  const text = Object.hasOwn(streams, event.stream) ? streams[event.stream]! : '';
  return { ...streams, [event.stream]: text.slice(0, event.offset) + event.delta };
}

/** What a producer says; the publisher adds jobId (and batchId) and ts, and may raise progress. */
export type ProgressUpdate = Omit<JobEvent, 'jobId' | 'batchId' | 'ts'>;
