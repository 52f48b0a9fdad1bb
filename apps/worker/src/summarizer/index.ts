export type { SummarizeOptions, Summarizer, Summary } from './types.ts';
export { extractiveSummarizer } from './extractive.ts';
