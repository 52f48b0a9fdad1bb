export { startWorker, type RunningWorker, type WorkerOptions } from './worker.ts';
export type { SummarizeOptions, SummarizeRun, Summarizer, Summary, TextSummarizer } from './summarizer/index.ts';
export { extractiveBackend, extractiveSummarizer, SummarizerError } from './summarizer/index.ts';
