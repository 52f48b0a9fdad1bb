export type { SummarizeOptions, SummarizeRun, Summarizer, Summary, TextSummarizer } from './types.ts';
export { extractiveSummarizer } from './extractive.ts';
export { extractiveBackend } from './extractive-backend.ts';
export { openaiBackend, type OpenAIBackendSettings } from './openai/backend.ts';
export { SummarizerError } from './errors.ts';
