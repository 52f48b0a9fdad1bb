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

export interface Summarizer {
  readonly name: string;
  summarize(text: string, options: SummarizeOptions): Summary;
}
