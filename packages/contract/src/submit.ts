import { z } from 'zod';

export const MAX_SENTENCES_LIMIT = 20;
export const DEFAULT_MAX_SENTENCES = 3;

/** A letter or a digit, in any script: what a summary can be made of. */
const SUMMARIZABLE = /[\p{L}\p{N}]/u;

/** POST /v1/jobs body. Unknown fields are rejected (strict objects), as docs/api.md says. */
export const submitRequestSchema = (maxTextChars: number) =>
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
  });

export type SubmitRequest = z.infer<ReturnType<typeof submitRequestSchema>>;
