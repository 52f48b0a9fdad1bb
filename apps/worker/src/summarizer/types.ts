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

/** A step of the work, as watchers see it: stage, message, and how far along (0–99). */
export interface Step {
  readonly stage: string;
  readonly message: string;
  readonly progress: number;
}

/**
 * One run of a summarize job, as a summarizer sees it: the job, the signal that aborts it (a
 * cancel, or the job ended elsewhere), and how to tell its watchers what happens.
 */
export interface SummarizeRun {
  readonly text: string;
  readonly maxSentences: number;
  readonly signal: AbortSignal;
  /** A step of the work: published at once, as an event of its own. */
  step(step: Step): Promise<void>;
  /**
   * More of the summary, as it is written, with the progress reached: published at most once
   * per STREAM_FLUSH_MS (several writes become one event with their text together).
   */
  write(delta: string, progress: number): void;
  /** Drops what was written: the next write starts the text again, at offset 0 (a retried call). */
  restart(): void;
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
