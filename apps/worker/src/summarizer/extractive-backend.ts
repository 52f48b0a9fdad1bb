import { setTimeout as sleep } from 'node:timers/promises';
import type { Step } from '@herald/worker/internal';
import { extractiveSummarizer } from './extractive.ts';
import type { Summarizer } from './types.ts';

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The offline summarizer as a job runs it: its real steps, each an event — the sentences found,
 * the ones picked, the summary put together. It takes milliseconds; `stageDelayMs`
 * (STAGE_DELAY_MS) paces the steps so a person can watch them, for demos.
 */
export function extractiveBackend(stageDelayMs: number): Summarizer {
  return {
    name: extractiveSummarizer.name,
    async summarize(run) {
      const summary = extractiveSummarizer.summarize(run.text, { maxSentences: run.maxSentences });
      const steps: Step[] = [
        { stage: 'analyzing', progress: 30, message: `Analyzing ${plural(summary.sentenceCount, 'sentence')}` },
        {
          stage: 'summarizing',
          progress: 70,
          message: `Picking the ${summary.selected} most important ${summary.selected === 1 ? 'sentence' : 'sentences'}`,
        },
        { stage: 'polishing', progress: 95, message: 'Polishing the summary' },
      ];
      // A pause after each step, the runner's `received` included, so each can be seen.
      const pause = async (): Promise<void> => {
        if (stageDelayMs > 0) await sleep(stageDelayMs, undefined, { signal: run.signal });
      };
      for (const step of steps) {
        await pause();
        await run.step(step);
      }
      await pause();
      return summary.text;
    },
  };
}
