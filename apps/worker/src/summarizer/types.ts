import type { RunReport } from '@herald/worker/internal';

export interface SummarizeOptions {
  /** Upper bound on sentences kept; 0 yields an empty summary. */
  maxSentences: number;
}

export interface Summary {
  /** Kept sentences, in their original order. */
  text: string;
  /** How many sentences the input had. */
  sentenceCount: number;
  /** How many sentences were kept. */
  selected: number;
}

/** A summarizing algorithm on its own: text in, summary out, at once (the extractive one). */
export interface TextSummarizer {
  readonly name: string;
  summarize(text: string, options: SummarizeOptions): Summary;
}

/**
 * One run of a summarize job, as a summarizer sees it: the job, the signal that aborts it (a
 * cancel, or the job ended elsewhere), and the run's own step, write and restart (RunReport) to
 * tell its watchers what happens; a summary written as it goes is the result being written.
 */
export interface SummarizeRun extends RunReport {
  readonly text: string;
  readonly maxSentences: number;
  readonly signal: AbortSignal;
}

/**
 * What the worker runs a summarize job with: the extractive summarizer (offline, the default)
 * or a language model. Resolves to the summary; when it wrote the summary as it went, the
 * result must be exactly what it wrote.
 */
export interface Summarizer {
  readonly name: string;
  summarize(run: SummarizeRun): Promise<string>;
}
