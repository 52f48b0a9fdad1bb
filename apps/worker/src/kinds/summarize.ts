import { z } from 'zod';
import { defineJobKind } from '@herald/worker/internal';
import type { Summarizer } from '../summarizer/index.ts';

/** What a summarize job carries in the queue (the API made it from the request body). */
const input = z.strictObject({ text: z.string().min(1), maxSentences: z.number().int().min(1) });

/** Herald's first kind: a text in, its summary out, by SUMMARIZER (extractive or a model). */
export const summarizeKind = (summarizer: Summarizer) =>
  defineJobKind({
    name: 'summarize',
    input,
    doneMessage: 'Summary ready',
    failureCodes: { failed: 'summarize_failed', empty: 'empty_summary' },
    writingMessage: (characters) => `Writing the summary: ${characters} characters so far`,
    async run({ text, maxSentences }, { attempt, attempts, signal, step, write, restart }) {
      const retryNote = attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : '';
      await step({ stage: 'received', progress: 10, message: `Received ${text.length} characters${retryNote}` });
      // The run's own step, write and restart, handed on as they are.
      return summarizer.summarize({ text, maxSentences, signal, step, write, restart });
    },
  });
