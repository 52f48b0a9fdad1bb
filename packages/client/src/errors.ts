/**
 * What Herald answered when it refused a request (docs/api.md, "Error codes"): its status, its
 * `code` for programs and its `message` for people; `details` when it named the fields (or, for
 * a refused publish, the job as it stands). `status` 0: no answer at all (unreachable, or a
 * stream that kept dropping past the retry budget).
 */
export class HeraldError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'HeraldError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The HeraldError for a refused response: Herald's JSON error, or the status line for anything else (a proxy's page). */
export async function errorOf(response: Response): Promise<HeraldError> {
  type ErrorBody = { error?: { code?: unknown; message?: unknown; details?: unknown } } | null;
  const body = (await response.json().catch(() => null)) as ErrorBody;
  const error = body?.error;
  if (typeof error?.code === 'string' && typeof error.message === 'string') {
    return new HeraldError(response.status, error.code, error.message, error.details);
  }
  return new HeraldError(response.status, 'http_error', `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
}
