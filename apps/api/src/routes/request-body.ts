import { MIMEType } from 'node:util';
import type { Request, RequestHandler } from 'express';
import type { Access } from '../auth/access.ts';
import { HttpError, badRequest } from '../http/errors.ts';
import type { SubmissionLimiter } from '../limits/submission-limiter.ts';

/**
 * What runs before a submission's body is read (POST /v1/jobs, POST /v1/batches): who before
 * what — an unauthenticated caller learns nothing about the body's validity — then the
 * submission limits, which count every authenticated attempt, valid or not, and refuse it before
 * its body is read; then an empty or non-JSON body is refused.
 */
export function submissionGate(access: Access, submissions: SubmissionLimiter): RequestHandler {
  return async (req, _res, next) => {
    const caller = access.requireKey(req);
    await submissions.enforce(caller);
    next(bodyProblem(req));
  };
}

/** The Idempotency-Key header, when one is given (an empty one is none). */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  return key === undefined || key === '' ? undefined : key;
}

/** `?token=` on the snapshot: at most one, of a sane length (the token's own check does the rest). */
export function queryToken(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length > 512) throw badRequest('token must be a single watch token');
  return value;
}

/**
 * What is wrong with the body before it is read, if anything: none at all is a 400 whatever its
 * type (there is nothing to parse), one that is not JSON a 415.
 */
export function bodyProblem(req: Request): HttpError | undefined {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0)) {
    return badRequest('The request body is empty: send the job as JSON, e.g. {"text": "…"}');
  }
  return isJson(req.headers['content-type']) ? undefined : new HttpError(415, 'unsupported_media_type', 'Send the job as application/json');
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  try {
    return new MIMEType(contentType).essence === 'application/json';
  } catch {
    return false; // not a media type at all
  }
}

/** Generous enough for MAX_TEXT_CHARS characters of any kind once JSON-escaped ("\uXXXX"). */
export const bodyLimitBytes = (maxTextChars: number): number => maxTextChars * 6 + 64 * 1024;
