import type { JobError, ProgressUpdate } from '@herald/contract';
import { SummarizerError } from '../summarizer/errors.ts';

const MAX_MESSAGE = 300;

/** What a watcher may see of a failure: a code and a one-line message, never a stack. */
export function describeFailure(error: unknown): JobError {
  if (error instanceof SummarizerError) return { code: error.code, message: error.message };
  const raw = error instanceof Error ? error.message : String(error);
  const line = raw.split('\n', 1)[0] ?? '';
  const message = line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
  if (/stalled/i.test(message)) {
    return { code: 'job_stalled', message: 'The job was abandoned by its workers too many times' };
  }
  return { code: 'summarize_failed', message: message || 'The summarizer failed' };
}

/** Whether another attempt could go better; a failure that cannot ends the job at once. */
export const isRetryable = (error: unknown): boolean => !(error instanceof SummarizerError) || error.retryable;

export const finalFailureEvent = (error: unknown): ProgressUpdate => ({
  status: 'error',
  progress: 0,
  message: 'Summarization failed',
  error: describeFailure(error),
});

export const retryEvent = (error: unknown, attempt: number, attempts: number): ProgressUpdate => ({
  status: 'processing',
  progress: 0,
  message: `Attempt ${attempt} of ${attempts} failed (${describeFailure(error).message}); retrying`,
});
