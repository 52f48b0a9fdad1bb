import * as z from 'zod';
import type { JobStatus } from './event.ts';
import type { WebhookState } from './snapshot.ts';
import { callbackUrlSchema, summarizeItemSchema } from './submit.ts';
import { MAX_TAGS_PER_JOB, batchJobTags, tagsSchema } from './tags.ts';

/**
 * POST /v1/batches: the items, each what a summarize job takes, all checked before any is queued.
 * `tags` go to every job of the batch (and to the batch's snapshot); an item's own `tags` add to
 * them, at most MAX_TAGS_PER_JOB together (a tag in both counts once).
 */
export const batchRequestSchema = (maxTextChars: number, maxItems: number) =>
  z
    .strictObject({
      items: z
        .array(summarizeItemSchema(maxTextChars))
        .min(1, 'items must hold at least one item')
        .max(maxItems, `items must hold at most ${maxItems} items (MAX_BATCH_ITEMS)`),
      tags: tagsSchema.optional(),
      callbackUrl: callbackUrlSchema.optional(),
    })
    .superRefine((batch, ctx) => {
      if (batch.tags === undefined) return;
      for (const [index, item] of batch.items.entries()) {
        if (batchJobTags(batch.tags, item.tags).length > MAX_TAGS_PER_JOB) {
          ctx.addIssue({
            code: 'custom',
            path: ['items', index, 'tags'],
            message: `the batch's tags and this item's together must be at most ${MAX_TAGS_PER_JOB} tags`,
          });
        }
      }
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
  /** The batch's own tags, as submitted (each job's, with its item's, are in its snapshot). */
  tags?: string[];
  createdAt: number;
  updatedAt: number;
  lastEventId: string;
}
