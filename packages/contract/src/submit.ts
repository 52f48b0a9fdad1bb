import * as z from 'zod';
import { DEFAULT_MAX_METADATA_BYTES, metadataObjectSchema } from './run-data.ts';
import { tagsSchema } from './tags.ts';

export const MAX_SENTENCES_LIMIT = 20;
export const DEFAULT_MAX_SENTENCES = 3;
/** What a job can be: one Herald runs (summarize), or one a producer of your own reports on. */
export const JOB_KINDS = ['summarize', 'external'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
/** A letter or a digit, in any script: what a summary can be made of. */
const SUMMARIZABLE = /[\p{L}\p{N}]/u;

/** Where to POST the job's end: an http(s) URL (where it may go is checked on delivery). */
export const callbackUrlSchema = z
  .string()
  .max(2000)
  .refine((value) => {
    try {
      return ['http:', 'https:'].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, 'callbackUrl must be an http:// or https:// URL');

/** A text to summarize and how: a summarize job's body, and a batch's item. */
export const summarizeItemSchema = (maxTextChars: number) =>
  z.strictObject({
    text: z
      .string()
      .max(maxTextChars, `text must be at most ${maxTextChars} characters`)
      // A text of white space, punctuation or symbols only would end `done` with an empty summary.
      .refine((text) => SUMMARIZABLE.test(text), 'text has nothing to summarize: it needs at least one letter or digit'),
    options: z
      .strictObject({
        maxSentences: z.number().int().min(1).max(MAX_SENTENCES_LIMIT).optional(),
      })
      .optional(),
    tags: tagsSchema.optional(),
  });

const summarizeBody = (maxTextChars: number) =>
  summarizeItemSchema(maxTextChars).extend({ kind: z.literal('summarize'), callbackUrl: callbackUrlSchema.optional() });

const externalBody = (maxMetadataBytes: number) =>
  z.strictObject({
    kind: z.literal('external'),
    title: z.string().min(1).max(200).optional(),
    tags: tagsSchema.optional(),
    // Values as JSON.parse made them; their depth is checked without recursion, before anything
    // walks them recursively (JSON.stringify, for the size). Where the job's metadata starts: its
    // first event carries it as its patch (docs/api.md, "Metadata").
    metadata: metadataObjectSchema(maxMetadataBytes).optional(),
    callbackUrl: callbackUrlSchema.optional(),
  });

/**
 * POST /v1/jobs body, by `kind` (absent: summarize, so the bodies of before stay valid). Unknown
 * fields are rejected (strict objects), as docs/api.md says; an unknown kind is named as such.
 */
export const submitRequestSchema = (maxTextChars: number, maxMetadataBytes = DEFAULT_MAX_METADATA_BYTES) =>
  z.preprocess(
    (body) =>
      typeof body === 'object' && body !== null && !Array.isArray(body) && !('kind' in body) ? { ...body, kind: 'summarize' } : body,
    z.discriminatedUnion('kind', [summarizeBody(maxTextChars), externalBody(maxMetadataBytes)], {
      error: (issue) => (issue.code === 'invalid_union' ? `kind must be one of: ${JOB_KINDS.join(', ')}` : undefined),
    }),
  );

export type SubmitRequest = z.infer<ReturnType<typeof submitRequestSchema>>;
export type SummarizeRequest = Extract<SubmitRequest, { kind: 'summarize' }>;
export type ExternalRequest = Extract<SubmitRequest, { kind: 'external' }>;
