import type { ErrorCode } from '@herald/contract';

/**
 * The codes this client gives itself, with status 0 unless it had an answer:
 * - `unreachable`: no answer at all (fetch failed);
 * - `invalid_response`: a success whose body this client does not know;
 * - `http_error`: a refusal without Herald's JSON error (a proxy's page), with its status;
 * - `not_a_stream`: a stream request answered with something other than an event stream;
 * - `invalid_event`: an event this client does not know, or one for another job;
 * - `gave_up`: a stream that kept failing past its retry budget (`maxRetries`).
 */
export type ClientErrorCode = 'unreachable' | 'invalid_response' | 'http_error' | 'not_a_stream' | 'invalid_event' | 'gave_up';

/**
 * A HeraldError's `code`: Herald's own (docs/api.md, "Error codes"; @herald/contract's
 * ERROR_CODES) or this client's. A Herald newer than this client could answer a code it does not
 * list yet: that code is passed on as it came, so a `switch` on it keeps a `default`.
 */
export type HeraldErrorCode = ErrorCode | ClientErrorCode;

/**
 * What Herald answered when it refused a request (docs/api.md, "Error codes"): its status, its
 * `code` for programs and its `message` for people; `details` when it named the fields (or, for
 * a refused publish, the job as it stands). `status` 0: no answer at all (unreachable, or a
 * stream that kept dropping past the retry budget).
 */
export class HeraldError extends Error {
  readonly status: number;
  readonly code: HeraldErrorCode;
  readonly details: unknown;
  /** The answer's `Retry-After` (a 429 or a 503): how long Herald asks you to wait, in seconds. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: HeraldErrorCode, message: string, details?: unknown, retryAfterSeconds?: number) {
    super(message);
    this.name = 'HeraldError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The HeraldError for a refused response: Herald's JSON error, or the status line for anything else (a proxy's page). */
export async function errorOf(response: Response): Promise<HeraldError> {
  type ErrorBody = { error?: { code?: unknown; message?: unknown; details?: unknown } } | null;
  const body = (await response.json().catch(() => null)) as ErrorBody;
  const error = body?.error;
  const retryAfter = Number(response.headers.get('retry-after'));
  const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 && response.headers.has('retry-after') ? retryAfter : undefined;
  if (typeof error?.code === 'string' && typeof error.message === 'string') {
    return new HeraldError(response.status, error.code as HeraldErrorCode, error.message, error.details, retryAfterSeconds);
  }
  const statusLine = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  return new HeraldError(response.status, 'http_error', statusLine, undefined, retryAfterSeconds);
}

/**
 * Why a fetch got no answer, short. Node's fetch (undici) says only "fetch failed" or
 * "terminated" and keeps the useful part in `cause`: a system code (ECONNREFUSED, ENOTFOUND,
 * ECONNRESET) is kept as it is. A browser's fetch says "Failed to fetch", which is all it knows.
 */
export function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause?.code === 'UND_ERR_SOCKET') return 'the other side closed the connection';
  if (typeof cause?.code === 'string') return cause.code;
  if ((error as Error | null)?.message === 'terminated') return 'the response was cut off';
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** A schema's refusal as one line: `status: Invalid option …; progress: …`. */
export const issuesOf = (error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string =>
  error.issues.map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message)).join('; ');
