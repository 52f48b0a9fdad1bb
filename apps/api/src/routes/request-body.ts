import { MIMEType } from 'node:util';
import type { Request } from 'express';
import { HttpError, badRequest } from '../http/errors.ts';

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
