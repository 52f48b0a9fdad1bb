import { JobError } from '@herald/worker/internal';

/**
 * A summarizer's failure (`upstream_timeout`, `truncated_answer`, …): a JobError of the
 * summarize kind, with a message that never carries the model's own words, the text or a key.
 */
export class SummarizerError extends JobError {
  override readonly name = 'SummarizerError';
}
