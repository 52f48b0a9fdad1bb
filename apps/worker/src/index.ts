export { startWorker, type RunningWorker, type WorkerOptions } from './worker.ts';
export { JobError } from '@herald/worker';
export type { SummarizeOptions, SummarizeRun, Summarizer, Summary, TextSummarizer } from './summarizer/index.ts';
export { extractiveBackend, extractiveSummarizer, SummarizerError } from './summarizer/index.ts';
