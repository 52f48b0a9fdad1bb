import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
  UnprocessableEntityError,
} from 'openai';
import { SummarizerError } from '../errors.ts';

/**
 * What a failed model call means for the job, as a coded failure watchers may read. The
 * server's own message is not passed on: it may quote the request (the text) or name the key.
 * The SDK has already retried 429s, 5xx and lost connections (LLM_MAX_RETRIES, honouring
 * Retry-After) by the time one of those reaches here; the job may still try again later.
 */
export function modelFailure(error: unknown): SummarizerError {
  if (error instanceof SummarizerError) return error;
  const status = error instanceof APIError ? error.status : undefined;
  if (error instanceof AuthenticationError || error instanceof PermissionDeniedError) {
    return new SummarizerError('upstream_auth', `The model server refused the API key (HTTP ${status}): check OPENAI_API_KEY`, false);
  }
  if (error instanceof NotFoundError) {
    return new SummarizerError(
      'upstream_rejected',
      'The model server does not know this model or endpoint (HTTP 404): check OPENAI_MODEL and OPENAI_BASE_URL',
      false,
    );
  }
  if (error instanceof BadRequestError || error instanceof UnprocessableEntityError) {
    return new SummarizerError('upstream_rejected', `The model server rejected the request (HTTP ${status})`, false);
  }
  if (error instanceof APIConnectionTimeoutError) {
    return new SummarizerError('upstream_timeout', 'The model server did not answer in time (LLM_TIMEOUT_MS), after retries', true);
  }
  if (error instanceof APIConnectionError && !(error instanceof APIUserAbortError)) {
    return new SummarizerError('upstream_unreachable', 'The model server could not be reached', true);
  }
  // An `error` event inside a 200 stream (the SDK throws it as an APIError without a status): the
  // server broke off its answer, as a dropped connection does, and is asked again the same way.
  if (error instanceof APIError && status === undefined && !(error instanceof APIUserAbortError)) {
    return new SummarizerError('upstream_dropped', 'The model server broke off its answer with an error event', true);
  }
  if (status !== undefined) {
    return new SummarizerError('upstream_unavailable', `The model server answered HTTP ${status}, after retries`, true);
  }
  // The answer broke off mid-stream (the connection dropped): the SDK does not retry a stream.
  return new SummarizerError('upstream_dropped', 'The connection to the model server dropped mid-answer', true, { cause: error });
}
