import * as z from 'zod';
import type { JobStatus } from './event.ts';
import type { WebhookState } from './snapshot.ts';
import { callbackUrlSchema, summarizeItemSchema } from './submit.ts';

/** POST /v1/batches: the items, each what a summarize job takes, all checked before any is queued. */
export const batchRequestSchema = (maxTextChars: number, maxItems: number) =>
  z.strictObject({
    items: z
      .array(summarizeItemSchema(maxTextChars))
      .min(1, 'items must hold at least one item')
      .max(maxItems, `items must hold at most ${maxItems} items (MAX_BATCH_ITEMS)`),
    callbackUrl: callbackUrlSchema.optional(),
  });

export type BatchRequest = z.infer<ReturnType<typeof batchRequestSchema>>;

/** A batch's jobs by how they stand. */
export type BatchCounts = Record<JobStatus, number>;

/** A batch's status: `queued` until a job starts, `done` once every job has ended (`cancelled` when DELETE ended it). */
export type BatchStatus = 'queued' | 'processing' | 'done' | 'cancelled';

/** The batch's own event, in its stream: the overall figure moved, or its status changed. */
export interface BatchEvent {
  batchId: string;
  status: BatchStatus;
  /** 0–100, never going back: the mean of its jobs' progress, an ended job counting 100. */
  progress: number;
  counts: BatchCounts;
  ts: number;
}

/** GET /v1/batches/{id}. */
export interface BatchSnapshot {
  batchId: string;
  status: BatchStatus;
  progress: number;
  counts: BatchCounts;
  /** Each job, in the batch's order. */
  jobs: { jobId: string; status: JobStatus; progress: number }[];
  webhook?: WebhookState;
  createdAt: number;
  updatedAt: number;
  lastEventId: string;
}
