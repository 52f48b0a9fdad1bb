import * as z from 'zod';
import { MAX_METADATA_DEPTH, nestsDeeperThan } from './json.ts';
import { DEFAULT_MAX_METADATA_BYTES, metadataObjectSchema } from './run-data.ts';
import { tagsSchema } from './tags.ts';

export const MAX_SENTENCES_LIMIT = 20;
export const DEFAULT_MAX_SENTENCES = 3;
/**
 * Herald's own kinds, always there: one Herald runs (summarize), one a producer of your own
 * reports on (external). Any other is registered by the workers that run it (docs/api.md, "Kinds").
 */
export const JOB_KINDS = ['summarize', 'external'] as const;
export type BuiltInKind = (typeof JOB_KINDS)[number];
/** What a job's `kind` may be: a built-in kind or a registered one (KIND_NAME). */
export type JobKind = string;
/** A kind's name: a-z, then up to 47 of a-z 0-9 _ - (no overlapping quantifiers: linear). */
export const KIND_NAME = /^[a-z][a-z0-9_-]{0,47}$/;
/** A registered kind's `input` nests at most this many levels deep, checked before any schema walks it. */
export const MAX_INPUT_DEPTH = MAX_METADATA_DEPTH;
export const isBuiltInKind = (kind: unknown): kind is BuiltInKind => kind === 'summarize' || kind === 'external';
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
 * POST /v1/jobs body of a registered kind (docs/api.md, "Kinds"): its `input`, any JSON value,
 * is checked against the kind's registered schema by the API once its shape is known here.
 */
export const registeredSubmitSchema = (maxMetadataBytes = DEFAULT_MAX_METADATA_BYTES) =>
  z.strictObject({
    kind: z
      .string()
      .max(48)
      .regex(KIND_NAME, 'kind is a-z, then up to 47 of a-z 0-9 _ -')
      .refine((kind) => !isBuiltInKind(kind)),
    input: z
      .unknown()
      .refine((value) => value !== undefined, 'input must be a JSON value: what the kind takes')
      .refine((value) => !nestsDeeperThan(value, MAX_INPUT_DEPTH), `input nests deeper than ${MAX_INPUT_DEPTH} levels`)
      .meta({
        type: ['string', 'object', 'array', 'number', 'boolean', 'null'],
        description: 'What the kind takes: its registered input schema (GET /v1/kinds)',
      }),
    tags: tagsSchema.optional(),
    metadata: metadataObjectSchema(maxMetadataBytes).optional(),
    callbackUrl: callbackUrlSchema.optional(),
  });

export type RegisteredSubmitRequest = z.infer<ReturnType<typeof registeredSubmitSchema>>;

/**
 * POST /v1/jobs body of a built-in kind, by `kind` (absent: summarize, so the bodies of before stay valid). Unknown
 * fields are rejected (strict objects), as docs/api.md says; an unknown kind is named as such.
 */
export const submitRequestSchema = (maxTextChars: number, maxMetadataBytes = DEFAULT_MAX_METADATA_BYTES) =>
  z.preprocess(
    (body) =>
      typeof body === 'object' && body !== null && !Array.isArray(body) && !('kind' in body) ? { ...body, kind: 'summarize' } : body,
    z.discriminatedUnion('kind', [summarizeBody(maxTextChars), externalBody(maxMetadataBytes)], {
      error: (issue) =>
        issue.code === 'invalid_union' ? `kind must be ${JOB_KINDS.join(', ')} or a registered kind (GET /v1/kinds)` : undefined,
    }),
  );

export type BuiltInSubmitRequest = z.infer<ReturnType<typeof submitRequestSchema>>;
export type SummarizeRequest = Extract<BuiltInSubmitRequest, { kind: 'summarize' }>;
export type ExternalRequest = Extract<BuiltInSubmitRequest, { kind: 'external' }>;
/** What POST /v1/jobs takes: a built-in kind's body, or a registered kind's. */
export type SubmitRequest = BuiltInSubmitRequest | RegisteredSubmitRequest;
