import * as z from 'zod';
import { JOB_STATUSES } from './event.ts';

// Tags and the listing of jobs (docs/api.md, "Tags" and "GET /v1/jobs").

/** The most tags one job may carry (a batch's job: the batch's and its item's together). */
export const MAX_TAGS_PER_JOB = 10;
/** One tag: letters, digits and `:_.-`, 1 to 64 of them (`user:123`). No quantifier overlaps: linear on any input. */
export const TAG_PATTERN = /^[A-Za-z0-9:_.-]{1,64}$/;

/** One tag, alone: `?tag=` of a listing. */
export const tagSchema = z
  .string()
  .max(64, 'a tag is at most 64 characters')
  .regex(TAG_PATTERN, 'a tag is 1 to 64 of the characters A-Z a-z 0-9 : _ . -');

/**
 * A job's (or a batch's) tags: at most MAX_TAGS_PER_JOB, each a tagSchema, none twice (a repeat
 * is refused rather than dropped, so the tags a snapshot shows are exactly those sent).
 */
export const tagsSchema = z
  .array(tagSchema)
  .max(MAX_TAGS_PER_JOB, `tags must hold at most ${MAX_TAGS_PER_JOB} tags`)
  .refine((tags) => new Set(tags).size === tags.length, 'tags must not repeat a tag');

/** The tags a batch's job carries: the batch's, then its item's not already among them. */
export const batchJobTags = (batchTags: readonly string[] | undefined, itemTags: readonly string[] | undefined): string[] => {
  const tags = [...(batchTags ?? [])];
  for (const tag of itemTags ?? []) if (!tags.includes(tag)) tags.push(tag);
  return tags;
};

/** GET /v1/jobs: a page is at most this many jobs (`limit`). */
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_LIST_LIMIT = 20;
/** The longest `cursor` taken: a nextCursor is far shorter (under 60 characters). */
export const MAX_LIST_CURSOR_CHARS = 128;

/** GET /v1/jobs's query: each parameter at most once. */
export const jobListQuerySchema = z.strictObject({
  tag: tagSchema.optional(),
  status: z.enum(JOB_STATUSES, { error: `status must be one of: ${JOB_STATUSES.join(', ')}` }).optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(1, `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`)
        .max(MAX_LIST_LIMIT, `limit must be at most ${MAX_LIST_LIMIT}`),
    )
    .optional(),
  cursor: z
    .string()
    .max(MAX_LIST_CURSOR_CHARS, `cursor must be at most ${MAX_LIST_CURSOR_CHARS} characters`)
    .regex(/^[A-Za-z0-9_-]+$/, 'cursor is not one this server gave')
    .optional(),
});

export type JobListQuery = z.infer<typeof jobListQuerySchema>;
