import { z } from 'zod';
import type { Summarizer } from '../summarizer/index.ts';
import { defineKind } from './kind.ts';

/** What a summarize job carries in the queue (the API made it from the request body). */
const input = z.strictObject({ text: z.string().min(1), maxSentences: z.number().int().min(1) });

/** Herald's first kind: a text in, its summary out, by SUMMARIZER (extractive or a model). */
export const summarizeKind = (summarizer: Summarizer) =>
  defineKind({
    name: 'summarize',
    input,
    doneMessage: 'Summary ready',
    async run({ text, maxSentences }, context) {
      const retryNote = context.attempt > 1 ? ` (attempt ${context.attempt} of ${context.attempts})` : '';
      await context.step({ stage: 'received', progress: 10, message: `Received ${text.length} characters${retryNote}` });
      return summarizer.summarize({
        text,
        maxSentences,
        signal: context.signal,
        step: (next) => context.step(next),
        write: (delta, progress) => context.write(delta, progress),
        restart: () => context.restart(),
      });
    },
  });
