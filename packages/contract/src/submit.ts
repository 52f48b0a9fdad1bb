import { z } from 'zod';

export const MAX_SENTENCES_LIMIT = 20;
export const DEFAULT_MAX_SENTENCES = 3;

/** POST /v1/jobs body. Unknown fields are rejected (strict objects), as docs/api.md says. */
export const submitRequestSchema = (maxTextChars: number) =>
  z.strictObject({
    text: z
      .string()
      .max(maxTextChars, `text must be at most ${maxTextChars} characters`)
      .refine((text) => text.trim().length > 0, 'text must contain non-whitespace characters'),
    options: z
      .strictObject({
        maxSentences: z.number().int().min(1).max(MAX_SENTENCES_LIMIT).optional(),
      })
      .optional(),
  });

export type SubmitRequest = z.infer<ReturnType<typeof submitRequestSchema>>;
