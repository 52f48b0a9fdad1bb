export { startWorker, type RunningWorker, type WorkerOptions } from './worker.ts';
export type { Summarizer, Summary, SummarizeOptions } from './summarizer/index.ts';
export { extractiveSummarizer } from './summarizer/index.ts';
