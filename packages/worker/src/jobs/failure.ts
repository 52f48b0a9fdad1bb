import type { JobError as ErrorBody, ProgressUpdate } from '@herald/contract';
import { JobError } from './job-error.ts';
import type { FailureCodes, JobKind } from './kind.ts';

const MAX_MESSAGE = 300;
const DEFAULT_CODES: FailureCodes = { failed: 'job_failed', empty: 'job_failed' };

/** The kind a failure is reported for: one this worker runs, or only the name of one it does not. */
export type FailedKind = Pick<JobKind, 'name' | 'failureCodes'>;

export const failureCodes = (kind: FailedKind): FailureCodes => kind.failureCodes ?? DEFAULT_CODES;

/** The kind's name as a message may carry it: a name from another version is quoted and cut short. */
const kindLabel = (name: string): string => (/^[\w-]{1,50}$/.test(name) ? name : JSON.stringify(name.slice(0, 50)));

const failedMessage = (kind: FailedKind): string => `The ${kindLabel(kind.name)} job failed`;

/** What a watcher may see of a failure: a code and a one-line message, never a stack. */
export function describeFailure(error: unknown, kind: FailedKind): ErrorBody {
  if (error instanceof JobError) return { code: error.code, message: error.message };
  const raw = error instanceof Error ? error.message : String(error);
  const line = raw.split('\n', 1)[0] ?? '';
  const message = line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
  if (/stalled/i.test(message)) {
    return { code: 'job_stalled', message: 'The job was abandoned by its workers too many times' };
  }
  return { code: failureCodes(kind).failed, message: message || failedMessage(kind) };
}

/** Whether another attempt could go better; a failure that cannot ends the job at once. */
export const isRetryable = (error: unknown): boolean => !(error instanceof JobError) || error.retryable;

export const finalFailureEvent = (error: unknown, kind: FailedKind): ProgressUpdate => ({
  status: 'error',
  progress: 0,
  message: failedMessage(kind),
  error: describeFailure(error, kind),
});

export const retryEvent = (error: unknown, kind: FailedKind, attempt: number, attempts: number): ProgressUpdate => ({
  status: 'processing',
  progress: 0,
  message: `Attempt ${attempt} of ${attempts} failed (${describeFailure(error, kind).message}); retrying`,
});
