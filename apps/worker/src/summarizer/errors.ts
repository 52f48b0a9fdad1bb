/**
 * A summarizer's failure as watchers may see it: a code (the `error.code` of the job's error
 * event) and a message written for people, never the model's own words, the text or a key.
 * `retryable`: whether another attempt could go better (a timeout, an overloaded server) or not
 * (a refused key, a model that does not exist): the job then fails at once, without retries.
 */
export class SummarizerError extends Error {
  override readonly name = 'SummarizerError';
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
  }
}
