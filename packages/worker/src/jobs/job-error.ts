/**
 * A job's failure as watchers may see it: a code (the `error.code` of the job's error event) and
 * a message written for people, never a stack, the job's input or a key. `retryable`: whether
 * another attempt could go better (a timeout, an overloaded server) or not (a refused key, an
 * input no run can take): the job then fails at once, without retries. A kind throws it, or a
 * case of its own (the summarizer's SummarizerError); any other error it throws is reported as
 * its kind's failure (JobKind.failureCodes).
 */
export class JobError extends Error {
  override readonly name: string = 'JobError';
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
  }
}
