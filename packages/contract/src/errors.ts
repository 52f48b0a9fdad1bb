// Every error code an HTTP answer can carry (docs/api.md, "Error codes"): the one list the
// server builds its errors from and the client's `HeraldError.code` is typed from. A job's own
// failure codes (`summarize_failed`, `job_stalled`, … in an `error` event) are another table
// (docs/api.md, "Failures"): they describe a job, not an answer.

/** A code's statuses (one code may have several: `invalid_request` is 400 or 431) and the message it carries unless its caller says more. */
export interface ErrorCodeSpec {
  readonly statuses: readonly number[];
  readonly message: string;
}

export const ERROR_CODES = {
  invalid_request: { statuses: [400, 431], message: 'The request is not valid' },
  unauthorized: { statuses: [401], message: 'A valid credential is required' },
  /** A watch token (or a watch JWT) past its expiry: a client with a way to get a fresh one resumes with it. */
  token_expired: { statuses: [401], message: 'The watch token has expired' },
  /** A watch token (or a watch JWT) that is forged, malformed, or signed for another issuer or audience. */
  invalid_token: { statuses: [401], message: 'The watch token is not valid' },
  /** POST /v1/jobs with a kind no running worker registered (docs/api.md, "Kinds"); also a job failure code (a worker's), another table. */
  unknown_kind: { statuses: [400], message: 'No worker has registered this kind' },
  forbidden: { statuses: [403], message: 'This credential may not do that' },
  not_found: { statuses: [404], message: 'No such route' },
  request_timeout: { statuses: [408], message: 'The request took too long to arrive' },
  idempotency_conflict: { statuses: [409], message: 'This Idempotency-Key was used with a different body' },
  already_finished: { statuses: [409], message: 'The job has already ended' },
  progress_backwards: { statuses: [409], message: 'Progress cannot go back' },
  bad_offset: { statuses: [409], message: 'The offset is past the text written so far (or splits a character)' },
  not_external: { statuses: [409], message: 'Only an external job takes events through the API; Herald writes this one itself' },
  /** A named stream past the job's MAX_STREAMS_PER_JOB (8): its streams so far go on. */
  too_many_streams: { statuses: [409], message: 'The job already has the most named streams it may have (8)' },
  payload_too_large: { statuses: [413], message: 'The request body is too large' },
  /** A metadata patch that would make the job's merged metadata larger than MAX_METADATA_BYTES: nothing was published. */
  metadata_too_large: { statuses: [413], message: "The job's metadata would be larger than MAX_METADATA_BYTES; nothing was published" },
  unsupported_media_type: { statuses: [415], message: 'Unsupported body encoding or charset' },
  rate_limited: { statuses: [429], message: 'Too many requests; try again later' },
  internal: { statuses: [500], message: 'Something went wrong on our side' },
  redis_unavailable: { statuses: [503], message: 'The job store is unavailable; try again shortly' },
  redis_out_of_memory: { statuses: [503], message: 'The job store is full; nothing was written; try again later' },
  draining: { statuses: [503], message: 'This replica is shutting down; reconnect' },
  replica_full: { statuses: [503], message: 'This replica has all the watchers it can take' },
  /** WATCH_JWKS_URL could not be fetched (or answered no key set) when a watch JWT needed its keys. */
  jwks_unavailable: { statuses: [503], message: 'The keys that verify watch JWTs could not be fetched; try again shortly' },
  /** Only the bundled nginx answers it (deploy/nginx/nginx.conf): no replica answered at all. */
  unavailable: { statuses: [503], message: 'No replica could answer; try again shortly' },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The statuses the catalogue allows for `C`. */
export type ErrorStatus<C extends ErrorCode = ErrorCode> = (typeof ERROR_CODES)[C]['statuses'][number];

/** The codes that may be answered with status `S` (`CodeFor<409>`: the conflicts). */
export type CodeFor<S extends number> = { [C in ErrorCode]: S extends ErrorStatus<C> ? C : never }[ErrorCode];

export const isErrorCode = (value: string): value is ErrorCode => Object.hasOwn(ERROR_CODES, value);

/** Whether the catalogue allows answering `code` with `status`. */
export const allowsStatus = (code: ErrorCode, status: number): boolean =>
  (ERROR_CODES[code].statuses as readonly number[]).includes(status);

/** The one code the catalogue has for `status`, or null when it has none or several (409). */
export function soleCodeFor(status: number): ErrorCode | null {
  const codes = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) => allowsStatus(code, status));
  return codes.length === 1 ? codes[0]! : null;
}
