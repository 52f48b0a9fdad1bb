import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { ZodError } from 'zod';
import { ERROR_CODES, allowsStatus, soleCodeFor, type CodeFor, type ErrorCode, type ErrorStatus } from '@herald/contract';
import { RedisOutOfMemoryError, RedisUnavailableError } from '@herald/shared';
import { REQUEST_ID_HEADER } from './request-context.ts';

/** A code from the catalogue (@herald/contract's ERROR_CODES) with one of the statuses it allows for it; the message defaults to the code's. */
type HttpErrorArgs = {
  [C in ErrorCode]: [status: ErrorStatus<C>, code: C, message?: string, details?: unknown, headers?: Readonly<Record<string, string>>];
}[ErrorCode];

/**
 * Every error a client can see (docs/api.md, "Error codes"), and the one place that turns
 * anything thrown into `{"error": {"code", "message", "details"?}}` with its status. Nothing
 * else writes error JSON. Codes and statuses come from the catalogue: a code it does not list
 * fails the type check, and so does a status it does not allow for that code (checked again at
 * construction, for a status known only at run time).
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(...[status, code, message, details, headers]: HttpErrorArgs) {
    super(message ?? ERROR_CODES[code].message);
    if (!allowsStatus(code, status)) throw new TypeError(`The error catalogue does not answer ${code} with ${status}`);
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers ?? {};
  }

  toBody(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    const error = { code: this.code, message: this.message };
    return { error: this.details === undefined ? error : { ...error, details: this.details } };
  }
}

export const badRequest = (message: string, details?: unknown) => new HttpError(400, 'invalid_request', message, details);
export const jobNotFound = () => new HttpError(404, 'not_found', 'No such job (unknown or expired)');
export const batchNotFound = () => new HttpError(404, 'not_found', 'No such batch (unknown or expired)');
export const routeNotFound = () => new HttpError(404, 'not_found');
export const conflict = (code: CodeFor<409>, message: string, details?: unknown) => new HttpError(409, code, message, details);
export const payloadTooLarge = (message?: string, details?: unknown) => new HttpError(413, 'payload_too_large', message, details);
export const unsupportedMediaType = (message?: string) => new HttpError(415, 'unsupported_media_type', message);
export const serviceUnavailable = (code: CodeFor<503>, message?: string, retryAfterSeconds = 1) =>
  new HttpError(503, code, message, undefined, { 'Retry-After': String(retryAfterSeconds) });
/** `challenge`: what to ask for instead of a bearer (the admin view asks a browser for Basic). */
export const unauthorized = (message: string, challenge: Record<string, string> = { 'WWW-Authenticate': 'Bearer' }) =>
  new HttpError(401, 'unauthorized', message, undefined, challenge);
/** A watch token's refusals (docs/api.md): an expired one can be replaced (`getToken`), a bad one cannot. */
export const tokenExpired = (message = 'The watch token has expired') =>
  new HttpError(401, 'token_expired', message, undefined, {
    'WWW-Authenticate': 'Bearer error="invalid_token", error_description="expired"',
  });
export const invalidToken = (message = 'The watch token is not valid') =>
  new HttpError(401, 'invalid_token', message, undefined, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
export const forbidden = (message: string) => new HttpError(403, 'forbidden', message);
/** `retryAfterSeconds` null: no Retry-After, when no wait can be known (a key's jobs not ended). */
export const rateLimited = (message: string, retryAfterSeconds: number | null, details?: unknown) =>
  new HttpError(
    429,
    'rate_limited',
    message,
    details,
    retryAfterSeconds === null ? {} : { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  );
export const redisUnavailable = () => serviceUnavailable('redis_unavailable');
/** Memory frees as jobs expire (JOB_TTL_SECONDS) or an operator steps in: not within a second. */
const REDIS_FULL_RETRY_SECONDS = 5;
/** Redis is at its maxmemory (and refuses writes): nothing of the request was kept. */
export const redisOutOfMemory = () => serviceUnavailable('redis_out_of_memory', undefined, REDIS_FULL_RETRY_SECONDS);

function clientErrorStatus(error: unknown): number | null {
  if (typeof error !== 'object' || error === null) return null;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : statusCode;
  return typeof value === 'number' && value >= 400 && value < 500 ? value : null;
}

/** body-parser's errors carry a `type` and a `status` (and, when too large, the `limit` in bytes). */
interface BodyParserError {
  type: string;
  status?: number;
  limit?: number;
}
const isBodyParserError = (error: unknown): error is BodyParserError =>
  typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string';

function fromZod(error: ZodError): HttpError {
  const details = error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  const tooLong = error.issues.find((issue) => issue.code === 'too_big' && ['text', 'delta', 'result'].includes(String(issue.path[0])));
  if (tooLong) return payloadTooLarge(tooLong.message, details);
  return badRequest('The request body is invalid', details);
}

export function toHttpError(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error;
  if (error instanceof ZodError) return fromZod(error);
  // Set by redisCall (deadline.ts), the one place a failed round trip is judged.
  if (error instanceof RedisOutOfMemoryError) return redisOutOfMemory();
  if (error instanceof RedisUnavailableError) return redisUnavailable();
  if (isBodyParserError(error)) {
    switch (error.type) {
      case 'entity.too.large':
        return payloadTooLarge(typeof error.limit === 'number' ? `The request body is too large: at most ${error.limit} bytes` : undefined);
      case 'entity.parse.failed':
        return badRequest('The request body is not valid JSON');
      case 'charset.unsupported':
      case 'encoding.unsupported':
        return unsupportedMediaType();
      default:
        break;
    }
  }
  // Anything else a library rejected the request with (the router's malformed %-escapes,
  // body-parser's undecodable gzip, …) carries a 4xx status: answer it in our JSON, under our code.
  const status = clientErrorStatus(error);
  return status === null ? null : fromLibraryStatus(status);
}

/**
 * A library's 4xx, under the code the catalogue has for that status (400 and 431:
 * `invalid_request`, 404: `not_found`, 413: `payload_too_large`, …). A status the catalogue
 * has no single code for (409's codes each mean something of ours; 405, 416, …) is a plain 400.
 */
function fromLibraryStatus(status: number): HttpError {
  const message = 'The request could not be read';
  // 413 has a code of ours besides (metadata_too_large, a job's rule): a library's is a body too large.
  const code = status === 413 ? 'payload_too_large' : soleCodeFor(status);
  if (code === null) return badRequest(message);
  return new HttpError(...([status, code, message] as HttpErrorArgs));
}

export const internalError = () => new HttpError(500, 'internal');

/**
 * Writes any thrown error as the JSON error with its status (500 for the unexpected, logged
 * by the caller's `onUnexpected`); destroys the socket when a response had already begun.
 */
export function writeError(res: ServerResponse, error: unknown, onUnexpected: (error: unknown) => void): void {
  const httpError = toHttpError(error) ?? internalError();
  if (httpError.status >= 500) onUnexpected(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(httpError.toBody());
  res.writeHead(httpError.status, {
    ...httpError.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * What Node's HTTP parser refuses before any route runs (headers too large, bad bytes, a
 * request that took too long) still gets the JSON error, then the connection closes. It carries
 * an X-Request-Id as every answer does (docs/api.md): a new one, since no header could be read.
 */
export function clientErrorResponse(code: string | undefined): Buffer {
  const error =
    code === 'HPE_HEADER_OVERFLOW'
      ? new HttpError(431, 'invalid_request', 'The request headers are too large')
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new HttpError(408, 'request_timeout')
        : badRequest('The request is not valid HTTP');
  const body = JSON.stringify(error.toBody());
  return Buffer.from(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n${REQUEST_ID_HEADER}: ${randomUUID()}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
